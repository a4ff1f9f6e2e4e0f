// Command gateway owns the live sessions of the members routed to it: it ingests HL1
// heartbeats over UDP (recvmmsg) and TCP (gnet), keeps the in-memory presence table, expires
// silent sessions with a timing wheel, and streams presence transitions to its agent over a
// Unix socket. It knows nothing of Consul's data model: for app subscriptions (SUBSCRIBE /
// EVENT over TCP, package livesync) it reads presence through the agent's public watcher
// library, and only when Consul is configured.
//
// Its parts live under internal/ (admin, clock, config, feedserver, ingest, livesync, table,
// tcp), so the compiler enforces that no other process imports them. Tools outside the
// gateway that must run its code in their own process go through the narrow seam
// gateway/gatewaytest.
package main
