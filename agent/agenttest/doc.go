// Package agenttest is the narrow, exported seam through which code outside the agent
// process runs the agent's private packages (agent/internal/...) in its own process: Agent
// is one run of the agent's presence path — feed client, state table, Consul session and
// writer — wired as the agent binary wires them. It serves the model-based test in
// scripts/chaos/model, which assembles gateways (through gateway/gatewaytest) and agents in
// one test process; Go's internal rule allows no directory that sees both gateway/internal
// and agent/internal (the top level is fixed), so each process exports this small seam.
//
// What it owns: the assembly and its lifecycle (start, crash, graceful stop). It must not
// grow behaviour of its own, and nothing in the agent process imports it. The watcher, which
// other processes use as a library, is public anyway (agent/watcher).
package agenttest
