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
// outbound backlog above MaxOutbound closes it (CLOSE slow consumer); SendBuffer caps the
// kernel's send buffer per connection. A connection must send HELLO first, and must send
// something every IdleTimeout, else it is closed with a CLOSE frame and a counted reason.
// A CLOSE frame queued behind data the app has not read lingers up to CloseLinger, so an
// app that reads again learns why it was closed.
//
// Subscriptions. SUBSCRIBE / UNSUBSCRIBE are accepted only on a connection the gateway has
// sent a WELCOME to (an invalid HELLO gets no answer, so a WELCOME is the proof of
// authentication); before that they close it with CLOSE auth failed. The seam (package
// livesync in production) sees a Conn: SendFrame, Backlog (bytes not yet taken by the
// socket) and Close(reason).
//
// This package must not touch the UDP loops' shards or the feed.
package tcp
