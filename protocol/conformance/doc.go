// Package conformance is a wire-level HL1 conformance suite for gateways: Run sends frames
// to any gateway's UDP and TCP addresses and checks every answer against PROTOCOL.md — one
// subtest per row of the "Error handling" table (UDP and TCP columns: drop, REHELLO n,
// CLOSE n, nothing), every TCP split point of a HELLO and of a heartbeat plus random
// segmentations of a stream of mixed frames, and the amplification rule (no reply to an
// unauthenticated datagram is larger on the wire, IPv4 and UDP headers included, or more
// numerous than what came in).
//
// A "drop" is checked with a marker: after the dropped frame the suite sends, from the
// same socket, a frame that is always answered (a heartbeat on an unknown slot, REHELLO 1);
// nothing else may arrive before the marker's answer. Over TCP the marker is a heartbeat
// with a forged tag on the connection's own slot (REHELLO 1): answers come in order.
//
// It owns only the suite: it builds frames with protocol/hl1 and tokens with
// protocol/token, and must not import any process's packages (gateway/..., agent/...). The
// in-repository run is gateway/conformance_process_test.go (the real gateway binary);
// `go test ./protocol/conformance -gateway-udp ...` runs it against any gateway (APPS.md,
// Conformance).
package conformance
