// Package feedclient is the agent's end of the gateway feed (protocol/feed): it connects
// to the gateway's Unix socket, reconnecting with backoff, and applies what it reads to the
// state table: a SNAPSHOT replaces this gateway's state, RECORDS apply transitions in
// sequence order. A sequence gap (records lost, e.g. the gateway dropped a slow agent's
// backlog) sends SNAPSHOT_REQUEST; until the new snapshot arrives, records keep being
// applied as best effort and the snapshot then fixes whatever was missed.
//
// It must not talk to Consul: the writer drains the table.
package feedclient
