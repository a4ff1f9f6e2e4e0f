// Command loadgen drives HL1 load at a gateway (or a comparator server) and measures it.
//
// One process simulates up to 10,000,000 sessions. Sessions live in flat arrays split
// across a few workers; each worker owns one UDP socket, one partition of the sessions
// and one timing wheel, and runs on one goroutine: no goroutine, timer or allocation per
// session. A worker's loop per tick (1 ms): drain replies (WELCOME, REHELLO) with a
// non-blocking recvmmsg, retry overdue HELLOs, send HELLOs under a rate limit, log
// sessions out and in (churn), then fire the wheel's due sessions and send their
// HEARTBEATs (or BATCH frames in relay mode) with sendmmsg.
//
// Modes (see README.md for every flag):
//
//	run    sessions HELLO, then heartbeat at -interval with -jitter; with -pid the server's
//	       CPU time and RSS are sampled over the -duration window (the "cpu" figure)
//	cpu    run with -pid required
//	drain  establish the sessions, SIGSTOP the server, pre-fill its socket with -drain-n
//	       valid heartbeats, SIGCONT it and time how long it takes to empty the queue
//
// Map: options.go (flags), sessions.go (the flat session table), wheel.go (the schedule),
// ratelimit.go (token bucket), slotmap.go (slot -> session), worker.go (the per-socket
// state machine), transport.go (sendmmsg/recvmmsg), run.go, drain.go, live.go (terminal
// line), summary.go (JSON).
//
// The loadgen must not import gateway/, agent/ or site/ packages: it talks to the gateway
// only over the wire and reads the server process only through /proc.
package main
