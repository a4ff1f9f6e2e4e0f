package table

// sessions_online counts what PROTOCOL.md calls online: a session counts from its first
// authenticated heartbeat (flagConfirmed: the app holds the WELCOME) until it goes offline
// (BYE, or expiry after the debounce window). A WELCOME nobody confirms never counts, and a
// re-HELLO of a counted session keeps it counted (it stays reported online).
//
// Every change of a session's state or flags that may move it in or out of the count goes
// through recount, which compares before and after, so the gauge cannot drift.

// counted reports whether sess is in the shard's online count.
func counted(sess *Session) bool {
	return sess.flags&flagConfirmed != 0 && (sess.state == stateOnline || sess.state == stateLingering)
}

// recount adjusts the online count after sess changed; was is counted(sess) before.
func (s *Shard) recount(sess *Session, was bool) {
	switch now := counted(sess); {
	case now && !was:
		s.online.Add(1)
	case was && !now:
		s.online.Add(-1)
	}
}
