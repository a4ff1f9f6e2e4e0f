// Package privacywatch is the public client library that follows the presence privacy
// records (protocol/privacy: members' visibility modes and recent revocations of
// (subject, viewer) pairs) in Consul KV, and the writer the site uses to change them.
//
// View keeps an immutable snapshot per bucket, refreshed by a blocking query on
// <prefix>/privacy/ (a change anywhere wakes it within Consul's round trip), and tells its
// subscribers which subjects changed, with the Consul index of the change, so the site's
// SSE hub and the gateway's subscription hub re-evaluate exactly those members' watchers.
// Lookups never block and never allocate. Until the first read (Ready) a View answers
// "nobody may see anyone": the enforcing processes fail closed.
//
// Scale: the blocking query returns the whole prefix (RecordBuckets keys) on each change;
// values hold only non-default modes and revocations younger than the grant lifetime, so
// they stay small, but at millions of invisible members a change log like the presence
// change records (presencekv) would be the next step.
//
// This package imports protocol/privacy, consul/api and zap only; it holds no site or
// gateway logic (what a viewer may see is privacy.Allowed).
package privacywatch
