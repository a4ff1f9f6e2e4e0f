package hl1

import "encoding/binary"

// HeartbeatSize is the size of HEARTBEAT and BYE frames:
//
//	[vt:1][slot:4][word:4][tag:8]
const HeartbeatSize = 17

// Heartbeat is a decoded HEARTBEAT or BYE frame, exactly as on the wire. Its Word holds
// only the low bits of seq/ts; Open reconstructs and authenticates them.
type Heartbeat struct {
	Bye  bool   // a BYE (type 0x14, the session ends) rather than a HEARTBEAT (0x13)
	Slot uint32 // from WELCOME
	Word Word
	Tag  uint64
}

// Type returns TypeBye or TypeHeartbeat.
func (h Heartbeat) Type() Type {
	if h.Bye {
		return TypeBye
	}
	return TypeHeartbeat
}

// Beat is what a client knows about the heartbeat it is about to send: the absolute
// values the tag covers. Seal turns it into the frame.
type Beat struct {
	Slot   uint32 // from WELCOME
	Epoch  uint32 // from WELCOME
	Seq    uint64 // 1 for the first frame after WELCOME, +1 per HEARTBEAT or BYE
	TS     uint64 // 10 ms ticks since WELCOME's server_time, client-monotonic
	Active bool   // foreground
	Bye    bool   // send a BYE instead of a HEARTBEAT
}

// Seal returns the frame for b: the packed word and the tag under the session key.
func (b Beat) Seal(key MACKey) Heartbeat {
	h := Heartbeat{Bye: b.Bye, Slot: b.Slot, Word: WordFor(b.TS, b.Seq, b.Active)}
	h.Tag = HeartbeatTag(key, h.Type(), b.Slot, b.Epoch, b.Seq, b.TS, b.Active)
	return h
}

// AppendHeartbeat appends the 17-byte frame of h to dst.
func AppendHeartbeat(dst []byte, h Heartbeat) []byte {
	dst = append(dst, byte(h.Type()))
	dst = binary.BigEndian.AppendUint32(dst, h.Slot)
	dst = binary.BigEndian.AppendUint32(dst, uint32(h.Word))
	return binary.BigEndian.AppendUint64(dst, h.Tag)
}

// ParseHeartbeat decodes a HEARTBEAT or a BYE frame (see Heartbeat.Bye). It checks the
// structure only; authenticate with Open.
func ParseHeartbeat(frame []byte) (Heartbeat, error) {
	t, err := checkType(frame, TypeHeartbeat, TypeBye)
	if err != nil {
		return Heartbeat{}, err
	}
	if err := checkSize(frame, HeartbeatSize); err != nil {
		return Heartbeat{}, err
	}
	return Heartbeat{
		Bye:  t == TypeBye,
		Slot: binary.BigEndian.Uint32(frame[1:5]),
		Word: Word(binary.BigEndian.Uint32(frame[5:9])),
		Tag:  binary.BigEndian.Uint64(frame[9:17]),
	}, nil
}

// Verify reports whether h's tag is the tag of the absolute values (seq, ts) with h's
// slot, status and type under key and epoch. Use Open unless seq/ts are already known.
func (h Heartbeat) Verify(key MACKey, epoch uint32, seq, ts uint64) bool {
	return HeartbeatTag(key, h.Type(), h.Slot, epoch, seq, ts, h.Word.Active()) == h.Tag
}

// Open authenticates h against the receiver's session state and returns its absolute seq
// and ts. lastSeq is the session's last accepted seq_abs (0 right after WELCOME);
// expectedTS is the last accepted ts_abs plus the server ticks elapsed since it was
// accepted (TicksSince helps). It fails with ErrBadMAC if the tag does not cover the
// reconstructed values (a forged frame, or one of another session: a slot from a gateway's
// previous run), and with ErrReplay if it does but the seq is not above lastSeq (a replayed
// or reordered frame of this session). The tag is checked first so that a frame that is
// not this session's is never mistaken for a harmless replay: gateways answer bad_mac with
// REHELLO and replays with silence. On success the caller stores seq as the new lastSeq and
// ts as the new last ts.
func (h Heartbeat) Open(key MACKey, epoch uint32, lastSeq, expectedTS uint64) (seq, ts uint64, err error) {
	seq = ReconstructSeq(lastSeq, h.Word.Seq15())
	ts = ReconstructTS(expectedTS, h.Word.TS16())
	if !h.Verify(key, epoch, seq, ts) {
		return 0, 0, ErrBadMAC
	}
	if seq <= lastSeq {
		return 0, 0, ErrReplay
	}
	return seq, ts, nil
}

// TicksSince returns the whole 10 ms ticks from an earlier to a later time in
// milliseconds (0 if later is not after earlier): the term a receiver adds to the last
// accepted ts_abs to get expectedTS.
func TicksSince(earlierMS, laterMS int64) uint64 {
	if laterMS <= earlierMS {
		return 0
	}
	return uint64(laterMS-earlierMS) / TickMS
}
