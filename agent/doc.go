// Command agent is the Consul sidecar that runs beside one gateway: it registers the gateway
// as a Consul service, holds one Consul session for it, turns the gateway's feed of presence
// transitions into batched Consul transactions, and serves the presence query API from a
// watcher's local cache. README.md has the KV layout, flags, metrics and failure behaviour.
//
// Parts (each a subpackage; this package only wires them and parses flags):
//
//	feedclient    the gateway feed consumer (Unix socket, snapshot + records, gap -> resync)
//	state         this gateway's sessions, per bucket, with the bounded dirty-bucket set
//	consulwriter  config CAS, service registration, session, batched transactions
//	consulrejoin  nudges the local Consul agent back to failed servers (serf waits 30 s)
//	watcher       the public client library: versioned cache + events from Consul
//	queryapi      HTTP: /v1/presence, /v1/stats, /healthz, /readyz, /metrics
//	metrics       Prometheus metric definitions
//	clock         real and fake clocks, backoff
//
// The agent must not reach into the gateway's memory: the feed socket and /healthz are its
// only ties to it.
package main
