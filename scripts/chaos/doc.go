// Command chaos runs Heartline's reliability and security bed (`make chaos`): three Consul
// servers and two gateway hosts (gateway + agent + Consul client agent each) in their own
// Linux network namespaces, a ground-truth-keeping session driver with tens of thousands of
// sessions, a list of fault scenarios each with its bound written down before it runs, an
// invariant checker (Consul KV and a watcher cache against the driver's ground truth) and a
// hostile-input phase measuring legit goodput under a 10x attack. It writes REPORT.md.
//
// Map:
//
//	main.go        flags, the run, the scenario list
//	scenarios.go   each scenario: its bound, its fault, its recovery
//	report.go      the generated markdown report
//	bed/           namespaces, veths, Consul/gateway/agent processes (start, kill -9, SIGTERM, partition)
//	driver/        the session driver: flat per-socket session tables, HELLO/heartbeat/BYE, ground truth
//	invariant/     snapshots of KV and watcher compared with ground truth; version monotonicity
//	attack/        hostile frames and TCP abuse; its tests run on loopback in `make test`
//
// It uses gateway/ and agent/ only as built binaries and agent/watcher + protocol/ as
// libraries; it must not touch their code. It needs root (namespaces); see README in REPORT.md.
package main
