// Package consultest starts real Consul servers for tests: one server or a small cluster,
// on free loopback ports with a temporary data directory, waits for a leader, and stops
// them when the test ends.
//
// The binary comes from scripts/install-consul.sh (the pinned version, built from source and
// cached), or from $HEARTLINE_CONSUL_BIN when set. There is no fake here and no skip: a test
// that asks for Consul either gets a real one or fails with the reason.
//
// This package owns only the lifecycle of test Consul processes. It must not know anything
// about Heartline's KV layout or sessions: those belong to the agent.
package consultest
