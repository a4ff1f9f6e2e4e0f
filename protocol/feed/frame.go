package feed

// FrameType is the first byte of every frame body.
type FrameType uint8

const (
	FrameHello           FrameType = 1 // gateway -> agent
	FrameSnapshotBegin   FrameType = 2 // gateway -> agent: Seq the snapshot is consistent with, Count sessions
	FrameSnapshotChunk   FrameType = 3 // gateway -> agent: Records, all KindOnline, Seq 0
	FrameSnapshotEnd     FrameType = 4 // gateway -> agent: Seq again; live records continue at Seq+1
	FrameRecords         FrameType = 5 // gateway -> agent: live records with contiguous Seq
	FrameSnapshotRequest FrameType = 6 // agent -> gateway: please send a new snapshot
	FrameUpstream        FrameType = 7 // agent -> gateway: whether the agent can publish (reach Consul)
)

func (t FrameType) String() string {
	switch t {
	case FrameHello:
		return "hello"
	case FrameSnapshotBegin:
		return "snapshot-begin"
	case FrameSnapshotChunk:
		return "snapshot-chunk"
	case FrameSnapshotEnd:
		return "snapshot-end"
	case FrameRecords:
		return "records"
	case FrameSnapshotRequest:
		return "snapshot-request"
	case FrameUpstream:
		return "upstream"
	}
	return "unknown"
}

// Wire framing: [length:4 big-endian][type:1][body], length = 1 + len(body).
const (
	headerLen = 4
	// MaxFrame bounds length (type byte + body) so a reader's memory is bounded.
	MaxFrame = 1 << 20
	// MaxRecords bounds the records in one RECORDS or SNAPSHOT_CHUNK frame. Writers split
	// larger sets; readers reject frames that claim more.
	MaxRecords = 16384
)

// Frame is one decoded frame. Which fields are set depends on Type.
type Frame struct {
	Type     FrameType
	Hello    Hello    // FrameHello
	Seq      uint64   // FrameSnapshotBegin, FrameSnapshotEnd; first record's Seq for FrameRecords
	Count    uint64   // FrameSnapshotBegin
	Records  []Record // FrameRecords, FrameSnapshotChunk; valid until the next Reader.Next
	Upstream Upstream // FrameUpstream
}

// Upstream is what an agent tells its gateway about its own path to the Consul servers.
type Upstream uint8

const (
	// UpstreamReachable: the agent reaches Consul and publishes what the gateway sends.
	// It is also what a gateway assumes when no agent is connected or nothing was said.
	UpstreamReachable Upstream = 1
	// UpstreamCutOff: the agent has not reached the Consul servers for a while (its host is
	// partitioned, or Consul is down). New sessions could not be published; the gateway
	// answers HELLOs with REHELLO 5 until the agent says UpstreamReachable again.
	UpstreamCutOff Upstream = 2
)

func (u Upstream) String() string {
	switch u {
	case UpstreamReachable:
		return "reachable"
	case UpstreamCutOff:
		return "cut-off"
	}
	return "unknown"
}
