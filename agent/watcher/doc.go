// Package watcher is the agent's public client library: a local, continuously updated
// cache of who is online on which devices (and when offline users were last seen), built
// from Consul, with typed presence events for subscribers. The agent's query API, the
// site and the gateway (for app subscriptions) all use it.
//
// How it follows Consul, so that its traffic grows with the change rate and not with the
// number of members online:
//
//   - At start and after a Consul index reset it reads the bucket keys <prefix>/presence/…
//     (all of them, or only the buckets of its interest set) and the last-seen keys.
//   - After a sequence gap, an Incomplete change record or a new writer epoch of one
//     gateway it re-reads incrementally (reread.go): only that gateway's keys can have
//     changed, and of those only the ones whose ModifyIndex is no longer the one its cache
//     reflects, which read-only Consul transactions of check-index ops tell it; it fetches
//     just those keys and their buckets' last-seen keys. The cost is one ModifyIndex per
//     presence key in scope (buckets × gateways map entries).
//   - Otherwise it only runs blocking queries (WaitIndex) on <prefix>/changes/, where each
//     agent's writer lanes publish their recent flushes, and applies the transitions whose
//     sequence it has not seen.
//   - A gateway whose change keys all disappear lost its Consul session: its sessions go
//     offline at the listing's index. If only some of its lanes vanished while others are
//     present (a new session rewriting lane by lane), it re-reads instead of sweeping.
//   - A bucket re-read is the truth as of the read: every listed session is applied at the
//     read's index (at least the highest index the watcher saw before reading), and cached
//     sessions in scope that the read lacks go offline at that index. So a re-read never
//     loses against an older sweep or update.
//     An incremental re-read fetches in several transactions, each a read of its own
//     moment, so each applies at its own index, never at a later transaction's (that put
//     members who came back between two fetches offline for good: chaos bed,
//     consul-outage-30s).
//
// Every update carries a version: the Consul index at which it was committed (for a bucket
// re-read, the read's index; for a sweep, the index at which the keys were seen gone), plus
// the watcher's base, which grows by the index reached each time Consul's index goes
// backwards (a reset), so one watcher's versions never go backwards. Watchers that lived
// through different resets have different bases: versions compare within one watcher. The
// cache keeps, per (user, device, gateway), the highest version applied, so applying an
// update twice or out of order never regresses it (Cache is a pure data structure; see its
// property test).
//
// Event versions are per user and never go backwards: an event carries the highest
// version applied to any of the user's sessions so far (its own update's version or more).
// The user's sessions on different gateways arrive through different lanes and re-reads,
// so an event caused by an older update of one session can follow an event caused by a
// newer update of another; it then carries the newer version, because it describes the
// user as the cache holds it now. A subscriber that keeps the highest version per user,
// ignores lower ones and applies equal ones (PROTOCOL.md's rule) therefore applies every
// event of one watcher in order and ends with the watcher's view (property test
// TestUserEventVersionsAreMonotonicAndAppsConverge). Events also carry an id naming their
// source.
//
// Subscribers get events on a bounded channel. A slow subscriber never blocks the watcher:
// when its channel is full the event is dropped and counted (Subscription.Dropped); a
// consumer that sees drops should re-read the users it cares about with Lookup.
//
// This package imports only protocol/ packages, agent/shared/clock (its retry backoff),
// consul/api and zap: never agent internals.
package watcher
