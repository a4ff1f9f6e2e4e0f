// Package queryapi is the agent's HTTP API: presence queries served from the watcher's
// cache (or, with ?consistent=1, read from Consul directly), plus /healthz, /readyz and
// /metrics for operators.
//
//	GET  /v1/presence/{user}     one user: online, status, devices, last seen
//	POST /v1/presence/batch      {"users":[...]} (at most 1000 ids) -> {"presence":[...]}
//	GET  /v1/stats               online users and sessions, watcher counters
//
// Errors are JSON objects {"error": "..."} that say what was wrong and how to fix it.
// This package owns HTTP handling only; it must not write to Consul.
package queryapi
