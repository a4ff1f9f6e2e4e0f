// Package gatewaytest is the narrow, exported seam through which code outside the gateway
// process runs the gateway's private packages (gateway/internal/...) in its own process:
//
//	process.go  Process: one gateway process's core in-process — a table, one ingest handler
//	            per shard driven by the caller (frames in, replies out, ticks at a time the
//	            caller chooses), a drain flag and the feed server on a Unix socket. Used by the
//	            model-based test in scripts/chaos/model.
//	ingest.go   Ingest: the gateway's UDP hot path alone (ingest loops on a table) with a feed
//	            consumer that discards the outbox. Used by benchmarks/baselines/ingestgw.
//
// Why a seam and not a move: the model test assembles gateways and agents together, and
// Go's internal rule allows no directory that sees both gateway/internal and
// agent/internal (the top level is fixed), so both processes export a small test seam
// (this package and agent/agenttest). The benchmark stand-in is a measurement tool, not a
// part of the gateway, and belongs with the benchmarks.
//
// What it owns: only the assembly and a plain-typed view of counters and replies (netip
// addresses, drop reasons by name), so callers never name an internal type. It must not
// grow behaviour of its own: every decision is made by the internal packages it wires,
// exactly as the gateway binary wires them. Nothing in the gateway process imports it.
package gatewaytest
