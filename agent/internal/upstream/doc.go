// Package upstream decides whether this host reaches the Consul servers, so that its
// gateway stops taking members it could not publish.
//
// A Prober asks the servers a cheap question through the local Consul agent every second
// (GET /v1/status/leader: answered by a server, so a local agent cut off from them fails
// it). After FailAfter failures in a row it reports the host cut off; the first success
// reports it reachable again. The agent passes each change to its gateway over the feed
// (protocol/feed UPSTREAM), and the gateway answers HELLOs with REHELLO 5 while cut off
// (gateway/ingest/upstream.go). A partitioned host can tell neither that the rest of the
// fleet still publishes nor that Consul is down everywhere; refusing HELLOs is right in both
// cases, since a member welcomed there could not be shown.
//
// It owns the probe loop and its counts only. It must not touch the Consul session, KV or
// the feed socket: it reports through OnChange.
package upstream
