// Package proctest is the one home of the helpers Heartline's tests share: free loopback
// addresses (ports.go), waiting on a condition instead of sleeping (wait.go), building the
// project's binaries (build.go) and starting them with their logs kept (process.go).
//
// Process-level tests — those that build and run the gateway, agent or site binaries — call
// Build, which skips them under `go test -short`; `make test` runs without -short and so
// runs them all.
//
// It lives under scripts/ beside consultest and pgtest (the other test-support packages)
// because tests of every process and of protocol/ use it and the top level is fixed. It
// owns only test mechanics: it must not know any process's flags, formats or behaviour.
package proctest
