// Command site is the Heartline dating site (遇见对的人 · Go相亲官网): a net/http process with
// the landing page, sign-up with e-mail verification, login into server-side sessions,
// profiles with photos, search ("online now", "recently active"), likes and matches, the
// members list with live green dots (Server-Sent Events fed by the agent's watcher library),
// and the JSON API that issues heartbeat credentials to native apps. Members live in a
// database: embedded SQLite by default, PostgreSQL by DSN. README.md has flags, pages, API,
// storage and the demo members.
//
// Map (the packages below live under internal/, so no other process can import them; the id
// range of demo members, which scripts/demo must agree with, is public in demoid/):
//   - main.go, config.go: wiring, flags (HEARTLINE_* env), graceful shutdown; admin.go: metrics;
//     seed.go: `site seed` (demo members into the database) and `site import` (an old members
//     JSON file into the database);
//   - web/: routes, handlers, security headers, access log, embedded templates and static files;
//   - store/: the database (SQLite or PostgreSQL), its migrations, sessions, outbox, search;
//   - members/: the Member type, synthetic demo profiles, sign-up/profile/search form validation;
//   - auth/: argon2id passwords, signed session cookies, CSRF tokens, login rate limits;
//   - photo/: photo uploads decoded and re-encoded; mail/: outbox delivery (SMTP or log);
//   - activity/: presence transitions → last-active times;
//   - live/: the SSE hub (snapshot on connect, drop + resync for slow clients);
//   - catalog/: healthy gateways from the Consul catalog.
//
// The site reads presence only through heartline/agent/watcher's exported API and issues
// tokens only through heartline/protocol/token; it must not touch gateway/ or agent/ internals.
package main
