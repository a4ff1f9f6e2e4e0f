// Package ingest receives HL1 frames and applies them to the presence table.
//
// Map:
//
//	handler.go       the per-frame logic shared by UDP and TCP: HELLO -> the checks that cost
//	                 no MAC (frame, token key id and expiry, clock), then the rate limits, then
//	                 token MAC, tag, table -> WELCOME; HEARTBEAT/BYE and each BATCH entry ->
//	                 slot, MAC over reconstructed seq/ts, table; REHELLO for unknown or expired
//	                 slots; every rejection a counted drop, and a TCP connection is told of the
//	                 ones it gets no answer to (Conn.Refused) so it can apply the TCP rules
//	addr.go          Addr, a raw socket address kept as bytes (no allocation per datagram)
//	ratelimit.go     bounded per-source token buckets (HELLO, REHELLO)
//	stats.go         per-loop counters read by the metrics endpoint
//	group.go         the set of loops, their inboxes and the cross-shard router
//	ingest_linux.go  the UDP loop: SO_REUSEPORT socket, recvmmsg/sendmmsg on a locked OS thread,
//	                 page-aligned mmap'd buffers
//	ingest_other.go  the portable UDP loop for other OSes (one datagram per read)
//
// Sharding and NAT rebinding. Each loop owns one table shard and writes nothing else.
// SO_REUSEPORT hashes a client's 4-tuple to one socket, so its HELLO and its heartbeats
// normally land on the same loop and the session lives in that loop's shard. When a NAT
// rebinds the client's port, its datagrams may land on another loop. That loop does not
// touch the foreign shard: it copies the frame (<= 66 bytes, with the source address) into
// the owning loop's inbox, a bounded channel of values (no allocation, no lock on the
// owner's hot path; a full inbox is a counted drop, the client simply retries). The owner
// drains its inbox after every receive batch and on every tick (the receive timeout bounds
// the wait to one tick). The same route serves a HELLO for a (user, device) whose session
// lives in another shard. Replies are sent from the owner's socket, which is bound to the
// same address and port, so the client sees no difference. We chose hand-off over a REHELLO
// because a REHELLO would make every rebinding client pay a HELLO round trip (a token HMAC
// on the gateway) and would briefly leave two sessions for one (user, device).
//
// This package must not know about Consul or the feed format beyond the table API, and
// must not touch another loop's shard.
package ingest
