// Package client is the HL1 reference client: what a native app does, in Go. Tests, the
// load generator and app developers use it as the worked example of PROTOCOL.md.
//
// A Client holds one session (user, device): it picks a gateway by rendezvous hashing of
// the user id over the gateway list (route.go), sends HELLO and waits for an authenticated
// WELCOME, sends heartbeats on a drift-free jittered schedule (schedule.go), re-HELLOs on
// REHELLO or when its gateway stops answering, reports status changes at once, and sends
// BYE on logout (client.go). A move to another gateway is make before break: no BYE to the
// gateway left behind, but a logout within a minute of a move BYEs that session too
// (previous.go). It speaks UDP, or length-prefixed TCP for networks that block UDP.
//
// Unlike the format packages beside it, this package does own sockets and goroutines; it
// must not know anything of the gateway's internals: only protocol/hl1 and protocol/token.
package client
