// Package feed is the byte format of the gateway -> agent feed: the stream of presence
// transitions one gateway sends to its sidecar agent over a Unix stream socket.
//
// The gateway listens; the agent connects. On every connect the gateway sends HELLO, a full
// SNAPSHOT (begin, chunks, end) and then live RECORDS frames, each record carrying a
// per-gateway monotonic sequence. The agent may send SNAPSHOT_REQUEST to resynchronise.
// PROTOCOL.md ("Gateway -> agent feed") is the specification.
//
// This package owns the format only: framing, encoding and decoding. It holds no sockets
// and no state; the gateway's feed server and the agent's feed client own those.
package feed
