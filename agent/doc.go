// Command agent is the Consul sidecar that runs beside one gateway: it registers the gateway
// as a Consul service, holds one Consul session for it, turns the gateway's feed of presence
// transitions into batched Consul transactions, and serves the presence query API from a
// watcher's local cache.
package main
