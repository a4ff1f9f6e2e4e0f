// Command demo is what `make demo` runs: it starts a local Consul, two gateways each with
// its agent, the site and a load generator, prints a live dashboard, and with -duration
// (DEMO_DURATION) exits 0 only if presence worked end to end.
//
// It owns only the demo's processes and temporary directory. It talks to Heartline the
// way an operator or an app would: through flags, the processes' HTTP endpoints, the
// reference client and the watcher library, never through their internals.
package main
