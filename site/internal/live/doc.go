// Package live owns the site's Server-Sent Events: a Hub fed by the agent's watcher library
// (heartline/agent/watcher) that fans presence events out to browsers, each watching the
// member ids on its page and the "N members online now" count.
//
// Delivery rules:
//   - every frame has an SSE id "<hub epoch>.<sequence>";
//   - on connect, and on a reconnect with Last-Event-ID, the browser gets one "snapshot"
//     frame with the current state of what it watches (never a replay of missed events);
//     only when its Last-Event-ID is the hub's latest id (nothing happened since) is the
//     snapshot skipped;
//   - each client has a bounded queue; when it is full the hub drops the client's pending
//     frames and sends a fresh snapshot instead (drop + resync, never block the fan-out);
//     when the watcher itself reports dropped events, every client is resynced;
//   - comment lines (": ping") keep idle connections open through proxies.
//
// Privacy (site/README.md, "Presence privacy"): every stream has a viewer (Options.Identify;
// anonymous viewers get the online count only) and, per watched member, the basis the
// database gave when the stream opened. Each event goes only to watchers privacy.Allowed
// admits — the member themself in full, others coarse (online / today / this week) — and
// nothing, not even the timing, to the others. PrivacyChanged re-evaluates the watchers of
// members whose mode or revocations changed: those who lost permission get the member
// offline with no last seen, those who regained it the current state. Streams are capped
// per address range and per member as well as in total.
//
// This package must not touch: the members store, templates, cookies, Consul (it only reads
// the watcher's cache through the Source interface), or anything under gateway/ or agent/
// besides the watcher's exported API.
package live
