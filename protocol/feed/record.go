package feed

// Version is the feed format version a gateway of this code writes in HELLO. Version 2
// adds UPSTREAM (agent -> gateway); readers accept MinVersion..Version, and an agent sends
// UPSTREAM only to a gateway whose HELLO says 2 or more, so an upgraded agent works beside
// a gateway not yet upgraded (upgrade the agent first: an agent of version 1 refuses a
// gateway of version 2).
const (
	Version         = 2
	MinVersion      = 1
	UpstreamVersion = 2 // the first version whose gateways read UPSTREAM
)

// Kind is what happened to a session.
type Kind uint8

const (
	KindOnline  Kind = 1 // the session became present (HELLO, or back after expiry)
	KindOffline Kind = 2 // the session is gone (BYE or expiry); At is when it was last seen
	KindStatus  Kind = 3 // an online session changed status
)

func (k Kind) String() string {
	switch k {
	case KindOnline:
		return "online"
	case KindOffline:
		return "offline"
	case KindStatus:
		return "status"
	}
	return "unknown"
}

// Status is how present an online session is.
type Status uint8

const (
	StatusAway   Status = 1 // app in the background
	StatusActive Status = 2 // app in the foreground
)

// Record is one presence transition of one session (user, device).
type Record struct {
	Seq    uint64 // per-gateway sequence; contiguous within a RECORDS frame; 0 inside a snapshot
	Kind   Kind
	User   uint64
	Device uint32
	Status Status
	At     int64 // unix milliseconds, gateway clock; for KindOffline the last time the session was seen
}

// Hello opens every feed connection.
type Hello struct {
	Version   uint8
	GatewayID string // at most MaxGatewayID bytes
	Epoch     uint32 // random per gateway process start
	StartedAt int64  // unix milliseconds
}

// MaxGatewayID bounds the gateway id in HELLO.
const MaxGatewayID = 128
