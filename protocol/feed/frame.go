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
	Type    FrameType
	Hello   Hello    // FrameHello
	Seq     uint64   // FrameSnapshotBegin, FrameSnapshotEnd; first record's Seq for FrameRecords
	Count   uint64   // FrameSnapshotBegin
	Records []Record // FrameRecords, FrameSnapshotChunk; valid until the next Reader.Next
}
