// Package hl1 encodes, decodes and authenticates HL1 frames, the wire protocol between
// native apps, relays and gateways. The specification is ../PROTOCOL.md; this package is
// its reference implementation and the test vectors in that document are checked against
// it (vectors_test.go).
//
// Map of the package (one file per concept):
//
//	frame.go        Version, MaxFrame, Type and PeekType (dispatch on byte 0)
//	errors.go       the typed errors and ReasonOf (drop-counter labels)
//	hello.go        HELLO      welcome.go  WELCOME     heartbeat.go  HEARTBEAT and BYE
//	rehello.go      REHELLO    batch.go    BATCH       subscribe.go  SUBSCRIBE/UNSUBSCRIBE
//	event.go        EVENT      close.go    CLOSE       tcp.go        TCP length prefix
//	word.go         the packed ts16|status|seq15 word
//	reconstruct.go  absolute seq/ts from their low bits
//	mac.go          MACKey (SipHash-2-4) and the heartbeat tag
//
// Conventions: AppendX(dst, x) appends a frame to a caller buffer; ParseX(frame) decodes
// into a value (copying the few bytes it keeps, never retaining frame); frames with tags
// are built with x.Seal(key, ...) and checked with x.Verify(key, ...) or, for heartbeats,
// Heartbeat.Open, which also reconstructs seq/ts and rejects replays. Every encoder and
// decoder is allocation-free (proven by tests) and every decoder is fuzzed.
//
// This package owns formats only: no sockets, goroutines, clocks or session tables (the
// gateway owns those), and it imports nothing outside protocol/.
package hl1
