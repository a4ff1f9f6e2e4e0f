// Command site is the Heartline dating site (遇见对的人 · Go相亲官网): a net/http process with
// the landing page, sign-up and login, the members list with live green dots (Server-Sent
// Events fed by the agent's watcher library), and the JSON API that issues heartbeat
// credentials to native apps. README.md has flags, pages, API and the demo members.
//
// Map:
//   - main.go, config.go: wiring, flags (HEARTLINE_* env), graceful shutdown; admin.go: metrics;
//     seed.go: `site seed`, the demo members generator command;
//   - web/: routes, handlers, security headers, access log, embedded templates and static files;
//   - members/: accounts, synthetic demo profiles, sign-up validation, the JSON members file;
//   - auth/: argon2id passwords, signed cookies, CSRF tokens, login rate limits;
//   - live/: the SSE hub (snapshot on connect, drop + resync for slow clients);
//   - catalog/: healthy gateways from the Consul catalog.
//
// The site reads presence only through heartline/agent/watcher's exported API and issues
// tokens only through heartline/protocol/token; it must not touch gateway/ or agent/ internals.
package main
