package table

// Session is one live (user, device) on this gateway. It is 56 bytes; with the index (load <= 0.6,
// ~6.7 bytes per session) and the publish buffers a session costs ~63.6 bytes (see
// TestBytesPerSession). Fields are exported for the ingest code of the owning loop, which
// verifies frames against them; only the owning shard's goroutine may read or write them.
type Session struct {
	User   uint64 // member id (from the token)
	K0, K1 uint64 // SipHash key of HL1 tags (the 16-byte session key, little-endian halves)
	Device uint32 // device id (from the token)

	LastSeq    uint32 // last accepted absolute seq (0 = none yet); the wire carries 64 bits, a session re-HELLOs long before 2^32
	LastTs     uint32 // last accepted absolute ts, 10 ms ticks since BaseTick
	LastSeen   uint32 // table tick (10 ms since table start) of the last accepted frame
	BaseTick   uint32 // table tick of the WELCOME server_time: the session's ts origin
	HelloStamp uint32 // client_time_ms/16 of the accepted HELLO: a replayed (older) HELLO cannot reset the session

	next  uint32 // wheel bucket or free-list link (index+1, 0 = end)
	gen   uint8  // generation of the slot currently using this index
	state uint8  // stateFree, stateOnline, stateLingering, stateOffline
	flags uint8  // flag* bits
}

const (
	stateFree      = 0
	stateOnline    = 1 // heartbeating
	stateLingering = 2 // deadline passed, inside the debounce window: still reported online
	stateOffline   = 3 // BYE or linger over: waiting for the feed and the wheel to let go
)

const (
	flagActive         = 1 << 0 // current status: foreground
	flagReportedOnline = 1 << 1 // the feed has been told this session is online
	flagReportedActive = 1 << 2 // ... with status active
	flagDirty          = 1 << 3 // on the shard's dirty list
	flagInWheel        = 1 << 4 // linked into a wheel bucket
	flagInIndex        = 1 << 5 // reachable from the (user, device) index
	flagBye            = 1 << 6 // went offline by BYE (not by silence)
	// flagConfirmed: a heartbeat proved the app holds this session's WELCOME. Only then is
	// the session reported online: a WELCOME the app never got, or got after it had moved
	// on to another gateway, leaves a session nobody uses, which must not show the member
	// online (or keep showing it after the member logged out elsewhere) until it expires.
	flagConfirmed = 1 << 7
)

// Active reports the session's current status (foreground).
func (s *Session) Active() bool { return s.flags&flagActive != 0 }

// Online reports whether the session accepts frames (online or lingering).
func (s *Session) Online() bool { return s.state == stateOnline || s.state == stateLingering }

const sizeofSession = 56 // checked by TestSessionSize
