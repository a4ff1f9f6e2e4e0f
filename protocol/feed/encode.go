package feed

import (
	"encoding/binary"

	"heartline/protocol/bitpack"
)

// Frame layout: [length:4][type:1][body]. begin reserves the header; finish fills length.
func begin(dst []byte, t FrameType) ([]byte, int) {
	start := len(dst)
	return append(dst, 0, 0, 0, 0, byte(t)), start
}

func finish(dst []byte, start int) []byte {
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-headerLen))
	return dst
}

// AppendHello appends a HELLO frame. Version 0 is written as the current Version.
func AppendHello(dst []byte, h Hello) []byte {
	if h.Version == 0 {
		h.Version = Version
	}
	id := h.GatewayID
	if len(id) > MaxGatewayID {
		id = id[:MaxGatewayID]
	}
	dst, start := begin(dst, FrameHello)
	dst = append(dst, h.Version)
	dst = binary.BigEndian.AppendUint32(dst, h.Epoch)
	dst = binary.BigEndian.AppendUint64(dst, uint64(h.StartedAt))
	dst = append(dst, byte(len(id)))
	dst = append(dst, id...)
	return finish(dst, start)
}

// AppendSnapshotBegin appends SNAPSHOT_BEGIN: the snapshot that follows is the gateway's
// state as of sequence seq and holds count sessions.
func AppendSnapshotBegin(dst []byte, seq, count uint64) []byte {
	dst, start := begin(dst, FrameSnapshotBegin)
	dst = binary.BigEndian.AppendUint64(dst, seq)
	dst = binary.BigEndian.AppendUint64(dst, count)
	return finish(dst, start)
}

// AppendSnapshotEnd appends SNAPSHOT_END; live RECORDS continue at seq+1.
func AppendSnapshotEnd(dst []byte, seq uint64) []byte {
	dst, start := begin(dst, FrameSnapshotEnd)
	dst = binary.BigEndian.AppendUint64(dst, seq)
	return finish(dst, start)
}

// AppendSnapshotRequest appends the agent's request for a fresh snapshot.
func AppendSnapshotRequest(dst []byte) []byte {
	dst, start := begin(dst, FrameSnapshotRequest)
	return finish(dst, start)
}

// AppendUpstream appends the agent's UPSTREAM frame (send it only to a gateway whose HELLO
// version is at least UpstreamVersion).
func AppendUpstream(dst []byte, u Upstream) []byte {
	dst, start := begin(dst, FrameUpstream)
	dst = append(dst, byte(u))
	return finish(dst, start)
}

// AppendRecords appends a RECORDS frame. recs[i].Seq must equal recs[0].Seq+i and
// len(recs) must be at most MaxRecords. It allocates scratch space; a long-lived writer
// should keep an Encoder instead.
func AppendRecords(dst []byte, recs []Record) ([]byte, error) {
	var e Encoder
	return e.AppendRecords(dst, recs)
}

// AppendSnapshotChunk appends a SNAPSHOT_CHUNK frame of at most MaxRecords sessions. The
// records' Seq fields are not encoded (they decode as 0).
func AppendSnapshotChunk(dst []byte, recs []Record) ([]byte, error) {
	var e Encoder
	return e.AppendSnapshotChunk(dst, recs)
}

// Encoder encodes record frames. It keeps the per-column scratch slices the codec wants,
// so a writer that reuses one Encoder (and its dst buffer) encodes without allocating.
// The zero value is ready to use; an Encoder is not safe for concurrent use.
type Encoder struct {
	users, devices []uint64
	times          []int64
}

// AppendRecords is the allocation-free form of the package-level AppendRecords.
func (e *Encoder) AppendRecords(dst []byte, recs []Record) ([]byte, error) {
	for i := range recs {
		if recs[i].Seq != recs[0].Seq+uint64(i) || recs[i].Seq < recs[0].Seq {
			return dst, ErrSeqGap
		}
	}
	return e.appendRecordFrame(dst, FrameRecords, recs)
}

// AppendSnapshotChunk is the allocation-free form of the package-level AppendSnapshotChunk.
func (e *Encoder) AppendSnapshotChunk(dst []byte, recs []Record) ([]byte, error) {
	return e.appendRecordFrame(dst, FrameSnapshotChunk, recs)
}

// Record body: [first_seq uvarint][count uvarint][kind<<4|status: count bytes]
// [users: bitpack unsorted][devices: bitpack unsorted][at: bitpack signed].
func (e *Encoder) appendRecordFrame(dst []byte, t FrameType, recs []Record) ([]byte, error) {
	if len(recs) > MaxRecords {
		return dst, ErrTooMany
	}
	for i := range recs {
		if !validRecord(&recs[i]) {
			return dst, ErrBadRecord
		}
	}
	e.users, e.devices, e.times = e.users[:0], e.devices[:0], e.times[:0]
	for i := range recs {
		e.users = append(e.users, recs[i].User)
		e.devices = append(e.devices, uint64(recs[i].Device))
		e.times = append(e.times, recs[i].At)
	}
	var first uint64
	if t == FrameRecords && len(recs) > 0 {
		first = recs[0].Seq
	}
	dst, start := begin(dst, t)
	dst = binary.AppendUvarint(dst, first)
	dst = binary.AppendUvarint(dst, uint64(len(recs)))
	for i := range recs {
		dst = append(dst, byte(recs[i].Kind)<<4|byte(recs[i].Status))
	}
	dst = bitpack.AppendUnsorted(dst, e.users)
	dst = bitpack.AppendUnsorted(dst, e.devices)
	dst = bitpack.AppendSigned(dst, e.times)
	return finish(dst, start), nil
}

func validRecord(r *Record) bool {
	return r.Kind >= KindOnline && r.Kind <= KindStatus &&
		(r.Status == StatusAway || r.Status == StatusActive)
}
