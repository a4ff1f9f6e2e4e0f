// Package livesync serves app subscriptions on the gateway's TCP listener: an app that
// completed HELLO/WELCOME sends SUBSCRIBE(user ids) and receives EVENT frames (state,
// devices, last seen, version) for those users, first their current state, then every
// change. It implements tcp.Subscriptions.
//
// Where presence comes from. Source is "the current state of a user, and a version no
// newer than it"; WatcherSource adapts the agent's public watcher library
// (heartline/agent/watcher), and Pump copies the watcher's events into the Hub. The
// watcher's interest set (the buckets it follows) is fixed when it is created, while the
// gateway's subscribed users change all the time, so the gateway's watcher follows every
// bucket and the Hub filters (Hub.Interested). The cost is memory: the watcher caches every
// online user of the cluster (~86 B per online session, see agent/README.md), and bucket
// re-reads (start, sequence gaps) read every bucket. Its steady-state Consul traffic is the
// change records, which grow with the change rate, not with the number of users online.
//
// Versions. Every EVENT entry carries the Consul index of the change. Per connection and
// user the Hub never queues a version lower than one it already queued, so an app that
// keeps the highest version per user (PROTOCOL.md) never regresses. Initial states carry
// the watcher's index read *before* the lookup: a change the lookup might have missed has a
// version >= it and still goes out.
//
// Slow consumers. Each connection has a send window (bytes the socket has not taken yet,
// tcp.Conn.Backlog) and a coalescing queue: while the window is full, changes wait in the
// queue, one entry per user, a newer change replacing the pending one (counted as
// coalesced), so the queue never holds more entries than the connection has subscriptions.
// A connection that stays behind (entries pending that the window does not admit) for
// longer than Options.Grace is closed with CLOSE slow consumer; the TCP layer also closes a
// connection whose backlog exceeds its hard bound (tcp.Options.MaxOutbound). Nothing here
// waits for a client: the gnet event loops and the watcher only take short mutexes.
//
// Privacy (PROTOCOL.md, "Presence grants and privacy records"). Each connection has the
// member of its HELLO token and the grant of its last GRANT frame (sealed by the site, opened
// with the cluster key file: no database). Every entry about another member passes
// privacy.Allowed under the privacy view (agent/privacywatch, followed from Consul) and is
// coarsened (online / offline with a day-granular last seen; no devices, no foreground
// state, no entry for a status change); a member the connection may not see is sent once as
// offline with no last seen and then never again. PrivacyChanged re-evaluates the
// connections subscribed to members whose records changed and sends an entry only where
// permission changed. Pump waits for the privacy view's first read as for the watcher's.
//
// This package must not touch the presence table, the feed or Consul directly.
package livesync
