// Command chaos runs Heartline's reliability and security bed (`make chaos`): three Consul
// servers and two gateway hosts (gateway + agent + Consul client agent each) in their own
// Linux network namespaces, a ground-truth-keeping session driver with tens of thousands of
// sessions, a list of fault scenarios each with its bound written down before it runs, an
// invariant checker (Consul KV and a watcher cache against the driver's ground truth) and a
// hostile-input phase measuring legit goodput under a 10x attack. It writes REPORT.md.
//
// Map:
//
//	main.go        flags, the run, the background loops (catalog poll, checks, churn), evidence
//	scenarios.go   each fault scenario: its bound (written before it runs), its fault, its recovery
//	hostile.go     the hostile-input scenario: goodput under a 10x flood, drop accounting, TCP abuse
//	metrics.go     Prometheus text scraping of the gateways
//	report.go      the generated markdown report (REPORT.md)
//	bed/           namespaces, veths, Consul/gateway/agent processes (start, kill -9, SIGTERM, partition)
//	driver/        the session driver: flat per-socket session tables, HELLO/heartbeat/BYE, ground truth
//	invariant/     snapshots of KV and watcher compared with ground truth; version monotonicity
//	attack/        hostile frames and TCP abuse; its tests run on loopback in `make test`
//	model/         test-only: a seeded model-based test of the presence invariant that drives the
//	               real gateway, agent and watcher packages in one process against a real Consul,
//	               on a fake gateway clock; runs in `make test` (see model/doc.go)
//
// It uses gateway/ and agent/ only as built binaries and agent/watcher + protocol/ as
// libraries; it must not touch their code. It needs root (network namespaces; iproute2).
// Run it with `make chaos` (scripts/chaos.sh builds the binaries and passes their paths).
// Bugs it found in other packages are described in REPORT.md's violations and evidence.
package main
