// Package state holds the agent's copy of one gateway's presence: the present sessions,
// keyed by (user, device) and grouped by bucket, plus what changed since the last flush:
// a dirty-bucket set (at most one entry per bucket, so it is bounded by the bucket count
// however long Consul is away), the coalesced transitions per bucket (latest per session)
// and the offline users whose last-seen time still has to be merged into Consul.
//
// The feed consumer writes it (Apply, Replace); the Consul writer drains it (Take) and puts
// back what it could not commit (Requeue). Because the writer always encodes the bucket's
// state at Take time, a retry after an outage writes the current state, never an old one.
//
// This package knows nothing about Consul or sockets.
package state
