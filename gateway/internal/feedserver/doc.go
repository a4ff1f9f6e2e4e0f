// Package feedserver streams the presence table's transitions to the agent over a Unix
// stream socket in the protocol/feed format.
//
// The gateway listens; one agent at a time is connected (a new connection replaces the
// old). Each connection gets HELLO, a full SNAPSHOT, then live RECORDS. The writer
// collects the shards' outboxes (table.Outbox) in ticket order, numbers the records with
// the per-gateway sequence, and writes them once per flush interval (or sooner when the
// buffer is large). A snapshot is assembled from the shards' parts; live records seen
// while it is assembled are replayed after SNAPSHOT_END (records are absolute states, so a
// replay is harmless and the agent ends on the latest state of every session).
//
// When no agent is connected the writer still drains the outboxes (and drops the records):
// the next connection's snapshot covers them. Memory is bounded by the table: at most one
// batch per shard, the encoded snapshot of the online sessions, and the records replayed
// after it.
//
// This package reads nothing of the table but the outboxes; it must not touch shard state.
package feedserver
