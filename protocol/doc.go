// Package protocol is the home of every byte format Heartline puts on a wire or in Consul.
// The specification is PROTOCOL.md beside this file; the subpackages implement it:
//
//   - bitpack: the delta + bit-packing codec for integer sequences (used by BATCH, the
//     feed and the Consul KV values);
//   - token:   login tokens, cluster secrets and per-session heartbeat keys;
//   - hl1:     HL1 frames (HELLO, WELCOME, HEARTBEAT, BYE, REHELLO, BATCH, SUBSCRIBE,
//     UNSUBSCRIBE, EVENT) and their TCP framing;
//   - client:  the reference client used by tests, the loadgen and app developers.
//
// Packages here own formats only: they hold no sockets, no goroutines and no process state,
// and they import nothing from gateway/, agent/ or site/.
package protocol
