// Package shared is the home of the plumbing every Heartline process uses, in two public
// packages:
//
//	clock   the one clock interface (real and fake) and the one Backoff
//	wiring  how a process is wired: HEARTLINE_* environment for flags, the zap logger (a bad
//	        level is an error), the Consul client built from consul/api's own configuration
//
// Why here: the top level is fixed (gateway, agent, protocol, site, scripts, benchmarks), so
// the plumbing must live under one of them. protocol/ holds wire and storage formats only,
// and this is not a format; scripts/ holds tools and test support, which production code
// must not depend on. The agent already publishes the library every other process imports
// (agent/watcher, which needs the clock and the backoff itself), and it is the process whose
// job is Consul, so the shared Consul client belongs with it. Nothing under agent/shared may
// import agent/internal or know what a process does: only how any of them starts.
package shared
