// Package table is the gateway's in-memory presence table: every live session (user,
// device) routed to this gateway, its heartbeat key and replay state, its expiry, and the
// coalesced changes waiting for the feed.
//
// Ownership. The table is split into shards, one per ingest loop (plus one for the TCP
// worker). A shard is written only by the goroutine that owns it, so the heartbeat path
// takes no lock. A session is addressed by a 32-bit Slot that encodes its shard, its index
// in the shard and a generation (see slot.go); a frame naming a reused slot with an old
// generation is rejected before its MAC is even computed (and would fail the MAC anyway:
// the new session has a different key). A HELLO for a session that is still live keeps it
// in place under a new generation, so frames captured from the session it replaces (same
// session key, seq restarting at 1) cannot be replayed into it.
//
// A session is reported online (feed ONLINE, snapshot) only from its first heartbeat, which
// proves the app holds the WELCOME (flagConfirmed in session.go); a session whose WELCOME
// went nowhere expires without a record.
//
// The only shared structure is the (user, device) -> slot index (index.go): an
// open-addressing table of uint32 under one mutex, touched on HELLO and when a session is
// released, never per heartbeat.
//
// Expiry is a per-shard hashed timing wheel (wheel.go) checked lazily: a heartbeat only
// writes LastSeen; when a session's wheel bucket fires the wheel compares the deadline and
// either re-files the session or moves it on (online -> lingering -> offline). Lingering is
// the flap-suppression window: an expired session that comes back within Debounce produces
// no record at all.
//
// Changes reach the feed writer through a per-shard Outbox (outbox.go): the owning loop
// turns its dirty list into records on its own tick and hands them over with one atomic
// store; the feed server never reads shard state.
//
// This package must not do I/O, parse wire frames or know about sockets: ingest and tcp do.
package table
