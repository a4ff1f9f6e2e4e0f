// Package protocol is the home of every byte format Heartline puts on a wire or in Consul.
// The specification is PROTOCOL.md beside this file; the subpackages implement it:
//
//   - bitpack:    the delta + bit-packing codec for integer sequences (used by BATCH,
//     SUBSCRIBE, the feed and the Consul KV values);
//   - token:      login tokens, cluster key rings and per-session heartbeat keys;
//   - hl1:        HL1 frames (HELLO, WELCOME, HEARTBEAT, BYE, REHELLO, BATCH, SUBSCRIBE,
//     UNSUBSCRIBE, EVENT, CLOSE) and their TCP framing;
//   - feed:       the gateway -> agent feed of presence transitions;
//   - presencekv: the Consul KV layout and value formats the agents write and watchers read;
//   - client:     the reference client used by tests, the loadgen and app developers;
//   - client/sdk: the reference client behind a C API, for native apps (`make sdk`).
//
// The format packages hold no sockets, no goroutines and no process state; the reference
// client (and its SDK) is the one exception, being a client. Nothing here imports gateway/, agent/ or
// site/: processes share formats through this tree, never through each other's internals.
package protocol
