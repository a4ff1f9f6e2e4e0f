// Package members owns the site's member accounts and their public profiles: the Member
// type, a concurrency-safe in-memory Store persisted as one JSON file, validation of
// sign-up input, and the generator of synthetic demo profiles (no real personal data).
//
// Demo members have stable user ids (FirstDemoID, FirstDemoID+1, …) so load generators and
// tests can heartbeat as them; they all share one demo password, stored as one hash.
//
// This package must not touch: HTTP, cookies, Consul, or anything under gateway/ or agent/.
// Password hashing lives in site/auth; the store only keeps the encoded hash.
package members
