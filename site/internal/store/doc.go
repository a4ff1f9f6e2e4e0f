// Package store owns the site's database: members and profiles, server-side login sessions,
// e-mail verification tokens and the outbox, photos, likes (and the blocks and visibility
// settings a later privacy change enforces), and the versioned schema migrations applied at
// Open.
//
// Two engines behind one API: embedded SQLite through the pure-Go modernc.org/sqlite driver
// (the default: a file path, nothing to install) and PostgreSQL through pgx's database/sql
// driver (a postgres:// DSN). Queries are written once with '?' placeholders and rebound for
// PostgreSQL; each engine has its own migration files under migrations/<engine>/ because the
// DDL differs (BLOB vs BYTEA). Times are unix milliseconds (BIGINT) and flags are 0/1
// integers so both engines store the same values.
//
// This package must not touch: HTTP, cookies, templates, Consul or the watcher. Presence
// reaches it only as a predicate (SearchOptions.Keep) and as activity times (TouchActive).
package store
