// Package model is a model-based test of Heartline's central presence invariant (issue 20):
//
//	a session whose heartbeats a gateway accepts is shown online within the bound,
//	an app whose heartbeats a gateway does not accept is told to say HELLO again, and
//	a session that said BYE or expired is not shown beyond the bound.
//
// It owns no production code: everything is in its _test.go files. They assemble, in one
// test process, two or three gateways from the real packages (a table, one ingest handler
// per shard, the feed server on a Unix socket: gateway/gatewaytest.Process), one agent per
// gateway (feed client, state, Consul writer: agent/agenttest.Agent) writing to a real
// Consul started by scripts/consultest, and one agent/watcher reading it. The gateway's and
// the agent's packages are internal to them; those two seams are the only way in. Apps are modelled on the
// reference client and the chaos driver: HELLO, the first HEARTBEAT right after WELCOME,
// one per interval, make-before-break moves (no BYE to the gateway left behind), HELLO
// again on a REHELLO for their slot.
//
// The gateways' time is a fake clock the test advances (ticks, expiry, debounce happen in
// test time); the agents, Consul and the watcher run on real time. A seeded random sequence
// of operations (moves, silence and return, BYE and login, lost and late WELCOMEs, lost
// REHELLOs, re-HELLO, NAT rebinding, agent restarts, gateway restarts with a new table and
// epoch, drains followed by a restart, long silences that expire sessions) is driven through
// the real code, and after every step the invariant is checked against two views, Consul KV
// (every presence key decoded with protocol/presencekv) and the watcher's cache, waiting for
// them to settle within a bound instead of sleeping.
//
// What the model knows of each session comes from the gateway itself: the handlers'
// counters tell, for every frame an app sends, whether it was accepted, answered with a
// REHELLO, or dropped (and why). That makes the expectations exact: a session must be shown
// while its gateway's table holds it online (its last accepted HELLO or heartbeat less than
// interval×misses + grace + debounce ago, no BYE since, same gateway process), may be shown
// for two wheel ticks more, and must not be shown after that.
//
// Environment: HEARTLINE_CONSUL_BIN names the Consul binary (see scripts/consultest);
// HEARTLINE_MODEL_SEEDS (comma-separated) replaces the default seeds and
// HEARTLINE_MODEL_STEPS the steps per seed, for longer runs. A failing seed is reproduced
// with HEARTLINE_MODEL_SEEDS=<seed> or -run 'TestModel/seed=<seed>$'. Under -short one default
// seed runs (make test runs all four).
package model
