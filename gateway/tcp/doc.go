// Package tcp is the gateway's TCP listener (gnet v2 event loops): the same HL1 frames as
// UDP, each preceded by a 2-byte length, for networks that block UDP; later also the app
// subscriptions (SUBSCRIBE / UNSUBSCRIBE / EVENT) through the Subscriptions seam.
//
// Threading. gnet's event loops only frame and check bytes; they never touch the presence
// table and never block. HELLO, HEARTBEAT and BYE frames are copied into a bounded channel
// read by one worker goroutine that owns the table's TCP shard (the last shard) and runs
// an ingest.Handler on it, exactly like a UDP loop: same auth, same drops, and hand-off to
// the owning UDP loop when the session lives in another shard. If the channel is full the
// connection is closed (reason "overload"), so an event loop never waits.
//
// Bounds. A connection holds at most one partial frame (<= 2+MaxFrame bytes) inbound; an
// outbound backlog above MaxOutbound closes it (CLOSE slow consumer). A connection must
// send HELLO first, and must send something every IdleTimeout, else it is closed with a
// CLOSE frame and a counted reason.
//
// This package must not touch the UDP loops' shards or the feed.
package tcp
