// Command presence measures the whole presence path with a real Consul: gateway binary ->
// feed -> agent binary -> Consul transactions -> change records a watcher sees.
//
// It starts a single durable Consul server, the gateway and the agent (the agent talks to
// Consul through a counting reverse proxy, so every transaction and byte it sends is
// counted), and watches <prefix>/changes/ with blocking queries straight from Consul.
//
//	ONLINE latency   HELLO sent by a reference client -> ONLINE in a change record
//	BYE latency      BYE sent -> OFFLINE in a change record
//	offline delay    client goes silent -> OFFLINE (interval x misses + grace + debounce + flush)
//	transitions/s    the loadgen churns sessions (BYE + fresh login); transitions seen in
//	                 Consul per second, Consul txns and request bytes per transition
//
// Latencies go into HdrHistogram (p50/p99/p999). Output: JSON (-out) that
// benchmarks/report adds to RESULTS.md. It only starts processes it owns and talks to
// them over their public interfaces (UDP, HTTP, Consul KV); it imports no gateway/ or
// agent/ package.
package main
