// Package tcp is the gateway's TCP listener (gnet v2 event loops): the same HL1 frames as
// UDP, each preceded by a 2-byte length, for networks that block UDP; also the app
// subscriptions (GRANT / SUBSCRIBE / UNSUBSCRIBE / EVENT) through the Subscriptions seam.
//
// Map:
//
//	server.go     Options, Server, Start/Stop, the seam interfaces
//	traffic.go    the event-loop side: accept (caps), framing (OnTraffic), dispatch of a frame
//	rules.go      the connection rules of PROTOCOL.md "TCP", written once
//	conn.go       per-connection state; SendFrame / Refused, through which the handler's
//	              answers (WELCOME, REHELLO) and silent drops reach the rules; close and linger
//	worker.go     the shard worker and the timers (auth timeout, idle timeout, linger)
//	cause.go      why connections end (tcp_closes_total{reason}) and the CLOSE code of each
//	addrgroup.go  the per-address connection cap (IPv4 address, IPv6 /64)
//
// Framing. gnet may deliver any part of a frame; OnTraffic handles every whole frame and
// leaves the bytes of an incomplete one in gnet's inbound buffer (Peek/Discard), so a
// connection holds at most one frame (2+MaxFrame bytes) inbound. FuzzTCPConn checks that
// any chunking of any byte stream gives the same outcome as the stream in one read.
//
// Threading. gnet's event loops only frame and check bytes; they never touch the presence
// table and never block. HELLO, HEARTBEAT and BYE frames are copied into a bounded channel
// read by one worker goroutine that owns the table's TCP shard (the last shard) and runs an
// ingest.Handler on it, exactly like a UDP loop: same auth, same drops, and hand-off to the
// owning UDP loop when the session lives in another shard. Each connection may hold at most
// ConnQueue frames of that channel (more: closed as overload), so a few flooding
// connections cannot take it from the others; a full channel drops the frame (counted),
// so an event loop never waits.
//
// Authentication. A connection is authenticated when the gateway sends it a WELCOME (only a
// verified HELLO gets one, from the worker or from the UDP loop it was handed to). The
// handler tells the connection of every frame it dropped unanswered (ingest.Conn.Refused),
// which is how a failed HELLO becomes CLOSE 3. Until authenticated only HELLO is accepted,
// and only for AuthTimeout; afterwards a connection silent for IdleTimeout is closed.
//
// Bounds. An outbound backlog above MaxOutbound closes a connection (CLOSE slow consumer);
// SendBuffer caps the kernel's send buffer per connection; MaxConns and MaxConnsPerAddr cap
// connections. A CLOSE frame queued behind data the app has not read lingers up to
// CloseLinger, so an app that reads again learns why it was closed.
//
// Subscriptions. GRANT, SUBSCRIBE and UNSUBSCRIBE of an authenticated connection go to the
// seam (package livesync in production), which sees a Conn: SendFrame, Backlog (bytes not
// yet taken by the socket), User and Close(reason).
//
// This package must not touch the UDP loops' shards or the feed.
package tcp
