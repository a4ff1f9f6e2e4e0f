// Package web owns the site's HTTP surface: routes, handlers for the pages (landing,
// sign-up and verification, login and logout, account, profile and photos, members search,
// likes and matches, the demo outbox) and the JSON API for native apps (POST /api/session,
// GET /api/presence), the security headers, the access log, and the embedded templates
// and static assets.
//
// Templates are parsed once, at New, from the embedded FS (a broken template fails the
// start, not a request); html/template escapes everything users typed. Static files are
// served under content-hashed names (/static/app.<hash>.css, cached for a year, immutable)
// and under their plain names (ETag, revalidated).
//
// Every database access goes through site/store; a session is looked up on every request,
// so a logout or password change elsewhere takes effect at once.
//
// This package must not touch: SQL or database drivers (site/store), Consul directly (gateways come through the Gateways
// interface, presence through live.Source), the watcher's internals, or anything under
// gateway/ or agent/.
package web
