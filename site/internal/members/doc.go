// Package members owns the site's member model and its input rules: the Member type and its
// public profile, validation of the sign-up, profile and search forms (Chinese messages per
// field), the generator of synthetic demo profiles (no real personal data), and reading the
// JSON members file older sites wrote (for `site import`).
//
// Demo members have stable user ids (FirstDemoID, FirstDemoID+1, …) so load generators and
// tests can heartbeat as them; they all share one demo password, stored as one hash.
//
// This package must not touch: HTTP, cookies, the database (site/store stores members),
// Consul, or anything under gateway/ or agent/. Password hashing lives in site/auth.
package members
