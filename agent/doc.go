// Command agent is the Consul sidecar that runs beside one gateway: it registers the gateway
// as a Consul service, holds one Consul session for it, turns the gateway's feed of presence
// transitions into batched Consul transactions, and serves the presence query API from a
// watcher's local cache. README.md has the KV layout, flags, metrics and failure behaviour.
//
// Parts (each a subpackage; this package only wires them and parses flags). Private parts
// live under internal/, so the compiler enforces that no other process imports them:
//
//	internal/feedclient    the gateway feed consumer (Unix socket, snapshot + records, gap -> resync)
//	internal/state         this gateway's sessions, per bucket, with the bounded dirty-bucket set
//	internal/consulwriter  config CAS, service registration, session, batched transactions
//	internal/consulrejoin  nudges the local Consul agent back to failed servers (serf waits 30 s)
//	internal/queryapi      HTTP: /v1/presence, /v1/stats, /healthz, /readyz, /metrics
//	internal/metrics       Prometheus metric definitions
//	watcher                public: the client library other processes use (versioned cache +
//	                       events from Consul)
//	shared/clock           public: the one clock (real, fake) and backoff of every process
//	shared/wiring          public: how every process is wired (env for flags, logger, Consul
//	                       client); agent/shared/doc.go says why it lives here
//	agenttest              public: a narrow seam that runs the presence path in-process, for
//	                       the model-based test in scripts/chaos/model
//
// The agent must not reach into the gateway's memory: the feed socket and /healthz are its
// only ties to it.
package main
