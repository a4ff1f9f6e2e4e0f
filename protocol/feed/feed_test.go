package feed

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"heartline/protocol/bitpack"
)

func sampleRecords(r *rand.Rand, n int, firstSeq uint64) []Record {
	recs := make([]Record, n)
	at := int64(1_764_000_000_000)
	for i := range recs {
		at += int64(r.IntN(2000))
		recs[i] = Record{
			Seq:    firstSeq + uint64(i),
			Kind:   Kind(1 + r.IntN(3)),
			User:   r.Uint64N(10_000_000),
			Device: uint32(r.IntN(4)),
			Status: Status(1 + r.IntN(2)),
			At:     at,
		}
	}
	return recs
}

func readAll(t *testing.T, b []byte) []Frame {
	t.Helper()
	rd := NewReader(bytes.NewReader(b))
	var out []Frame
	for {
		f, err := rd.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		cp := *f
		cp.Records = append([]Record(nil), f.Records...)
		out = append(out, cp)
	}
}

func TestRoundTripEveryFrame(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	recs := sampleRecords(r, 1000, 77)
	snap := sampleRecords(r, 300, 0)
	for i := range snap {
		snap[i].Seq, snap[i].Kind = 0, KindOnline
	}
	hello := Hello{Version: Version, GatewayID: "gw-a", Epoch: 0xdeadbeef, StartedAt: 1_764_000_000_123}

	var b []byte
	b = AppendHello(b, hello)
	b = AppendSnapshotBegin(b, 76, 300)
	b, _ = AppendSnapshotChunk(b, snap)
	b = AppendSnapshotEnd(b, 76)
	var err error
	if b, err = AppendRecords(b, recs); err != nil {
		t.Fatal(err)
	}
	b = AppendSnapshotRequest(b)
	b = AppendUpstream(b, UpstreamCutOff)
	b = AppendUpstream(b, UpstreamReachable)

	got := readAll(t, b)
	want := []Frame{
		{Type: FrameHello, Hello: hello},
		{Type: FrameSnapshotBegin, Seq: 76, Count: 300},
		{Type: FrameSnapshotChunk, Records: snap},
		{Type: FrameSnapshotEnd, Seq: 76},
		{Type: FrameRecords, Records: recs},
		{Type: FrameSnapshotRequest},
		{Type: FrameUpstream, Upstream: UpstreamCutOff},
		{Type: FrameUpstream, Upstream: UpstreamReachable},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d frames, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if len(w.Records) == 0 {
			w.Records, g.Records = nil, nil
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("frame %d (%v): got %+v, want %+v", i, w.Type, g, w)
		}
	}
}

func TestRecordsFrameIsCompact(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	recs := sampleRecords(r, 1000, 1)
	b, err := AppendRecords(nil, recs)
	if err != nil {
		t.Fatal(err)
	}
	// A naive fixed layout would be 8+1+8+4+1+8 = 30 bytes per record.
	if per := float64(len(b)) / float64(len(recs)); per >= 30 {
		t.Fatalf("records frame uses %.1f bytes/record, no better than a fixed layout", per)
	}
	t.Logf("1000 records: %d bytes (%.1f B/record)", len(b), float64(len(b))/1000)
}

func TestEncoderRejectsBadInput(t *testing.T) {
	if _, err := AppendRecords(nil, []Record{{Seq: 1, Kind: KindOnline, Status: StatusActive}, {Seq: 3, Kind: KindOnline, Status: StatusActive}}); !errors.Is(err, ErrSeqGap) {
		t.Errorf("gap: got %v, want ErrSeqGap", err)
	}
	if _, err := AppendRecords(nil, []Record{{Seq: 1, Kind: 9, Status: StatusActive}}); !errors.Is(err, ErrBadRecord) {
		t.Errorf("bad kind: got %v, want ErrBadRecord", err)
	}
	if _, err := AppendRecords(nil, make([]Record, MaxRecords+1)); err == nil {
		t.Error("MaxRecords+1 records accepted")
	}
}

func TestReaderRejectsEveryTruncation(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	full, _ := AppendRecords(nil, sampleRecords(r, 50, 10))
	for cut := 1; cut < len(full); cut++ {
		_, err := NewReader(bytes.NewReader(full[:cut])).Next()
		if err == nil {
			t.Fatalf("truncation at %d/%d accepted", cut, len(full))
		}
	}
}

func TestReaderRejectsBadLengths(t *testing.T) {
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], MaxFrame+1)
	if _, err := NewReader(bytes.NewReader(hdr[:])).Next(); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("oversize: got %v", err)
	}
	if _, err := NewReader(bytes.NewReader([]byte{0, 0, 0, 0})).Next(); !errors.Is(err, ErrEmptyFrame) {
		t.Errorf("empty: got %v", err)
	}
	end := AppendSnapshotEnd(nil, 5)
	// Grow the declared length by one and add a byte: trailing garbage inside the frame.
	bad := append([]byte(nil), end...)
	binary.BigEndian.PutUint32(bad, binary.BigEndian.Uint32(bad)+1)
	bad = append(bad, 0xff)
	if _, err := NewReader(bytes.NewReader(bad)).Next(); !errors.Is(err, ErrTrailing) {
		t.Errorf("trailing: got %v", err)
	}
	unknown := []byte{0, 0, 0, 1, 99}
	if _, err := NewReader(bytes.NewReader(unknown)).Next(); !errors.Is(err, ErrUnknownFrame) {
		t.Errorf("unknown type: got %v", err)
	}
}

func TestUpstreamAndHelloVersions(t *testing.T) {
	var d Decoder
	var f Frame
	for _, c := range []struct {
		body []byte
		want error
	}{
		{[]byte{byte(FrameUpstream), byte(UpstreamCutOff)}, nil},
		{[]byte{byte(FrameUpstream)}, ErrTruncated},
		{[]byte{byte(FrameUpstream), 1, 0}, ErrTrailing},
		{[]byte{byte(FrameUpstream), 0}, ErrBadUpstream},
		{[]byte{byte(FrameUpstream), 3}, ErrBadUpstream},
	} {
		if err := d.Decode(c.body, &f); !errors.Is(err, c.want) {
			t.Errorf("% x: got %v, want %v", c.body, err, c.want)
		}
	}
	// A gateway of the previous version (1) is still read; versions outside the range are not.
	for v, ok := range map[uint8]bool{0: false, MinVersion: true, Version: true, Version + 1: false} {
		b := AppendHello(nil, Hello{Version: v, GatewayID: "gw", Epoch: 1})
		if v == 0 {
			b[5] = 0 // AppendHello writes 0 as the current version
		}
		err := d.Decode(b[4:], &f)
		if ok != (err == nil) || (!ok && !errors.Is(err, ErrBadHello)) {
			t.Errorf("HELLO version %d: got %v", v, err)
		}
		if ok && f.Hello.Version != v {
			t.Errorf("HELLO version %d decoded as %d", v, f.Hello.Version)
		}
	}
}

func TestDecodeRejectsOutOfRangeFields(t *testing.T) {
	// A device id above 32 bits and a sequence that would overflow must be rejected.
	var d Decoder
	var f Frame
	body, _ := AppendRecords(nil, []Record{{Seq: math.MaxUint64, Kind: KindOnline, Status: StatusAway}})
	if err := d.Decode(body[4:], &f); err != nil {
		t.Fatalf("max seq single record should decode: %v", err)
	}
	two, _ := AppendRecords(nil, []Record{{Seq: math.MaxUint64 - 1, Kind: KindOnline, Status: StatusAway}, {Seq: math.MaxUint64, Kind: KindOnline, Status: StatusAway}})
	if err := d.Decode(two[4:], &f); err != nil {
		t.Fatalf("two records ending at MaxUint64 should decode: %v", err)
	}
	if _, err := AppendRecords(nil, []Record{{Seq: math.MaxUint64, Kind: KindOnline, Status: StatusAway}, {Seq: 0, Kind: KindOnline, Status: StatusAway}}); !errors.Is(err, ErrSeqGap) {
		t.Fatalf("wrapping sequence: got %v, want ErrSeqGap", err)
	}
	// Hand-build a frame whose sequence would wrap: first = MaxUint64, two records.
	wrapped := append([]byte(nil), two[4:]...)
	wrapped = append(wrapped[:1], binary.AppendUvarint(nil, math.MaxUint64)...)
	wrapped = append(wrapped, two[4+1+len(binary.AppendUvarint(nil, math.MaxUint64-1)):]...)
	if err := d.Decode(wrapped, &f); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("wrapping frame: got %v, want ErrBadRecord", err)
	}
	// A device id above 32 bits, built column by column as a hostile peer would.
	body = []byte{byte(FrameRecords)}
	body = binary.AppendUvarint(body, 1)
	body = binary.AppendUvarint(body, 1)
	body = append(body, byte(KindOnline)<<4|byte(StatusAway))
	body = bitpack.AppendUnsorted(body, []uint64{42})
	body = bitpack.AppendUnsorted(body, []uint64{1 << 33})
	body = bitpack.AppendSigned(body, []int64{0})
	if err := d.Decode(body, &f); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("64-bit device id: got %v, want ErrBadRecord", err)
	}
}

func TestEncodeAndDecodeDoNotAllocate(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	recs := sampleRecords(r, 512, 100)
	var e Encoder
	buf, _ := e.AppendRecords(make([]byte, 0, 64<<10), recs)
	var d Decoder
	var f Frame
	if err := d.Decode(buf[4:], &f); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		buf, _ = e.AppendRecords(buf[:0], recs)
	}); n != 0 {
		t.Errorf("Encoder.AppendRecords: %v allocs/op, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() {
		if err := d.Decode(buf[4:], &f); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Decoder.Decode: %v allocs/op, want 0", n)
	}
}

func FuzzDecode(f *testing.F) {
	r := rand.New(rand.NewPCG(9, 10))
	recs, _ := AppendRecords(nil, sampleRecords(r, 20, 5))
	f.Add(recs[4:])
	f.Add(AppendHello(nil, Hello{GatewayID: "gw", Epoch: 1})[4:])
	f.Add(AppendSnapshotBegin(nil, 1, 2)[4:])
	f.Add(AppendSnapshotEnd(nil, 1)[4:])
	f.Add(AppendSnapshotRequest(nil)[4:])
	f.Add(AppendUpstream(nil, UpstreamCutOff)[4:])
	f.Add([]byte{byte(FrameRecords), 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		var d Decoder
		var fr Frame
		if err := d.Decode(b, &fr); err != nil {
			return
		}
		// Whatever decodes must re-encode to a frame that decodes to the same thing.
		var again []byte
		var err error
		switch fr.Type {
		case FrameRecords:
			again, err = AppendRecords(nil, fr.Records)
		case FrameSnapshotChunk:
			again, err = AppendSnapshotChunk(nil, fr.Records)
		default:
			return
		}
		if err != nil {
			t.Fatalf("decoded records do not re-encode: %v", err)
		}
		var fr2 Frame
		if err := d.Decode(again[4:], &fr2); err != nil {
			t.Fatalf("re-encoded frame does not decode: %v", err)
		}
		if len(fr.Records) != len(fr2.Records) || (len(fr.Records) > 0 && !reflect.DeepEqual(fr.Records, fr2.Records)) {
			t.Fatalf("round trip changed records")
		}
	})
}

func BenchmarkAppendRecords512(b *testing.B) {
	recs := sampleRecords(rand.New(rand.NewPCG(1, 1)), 512, 1)
	var e Encoder
	buf := make([]byte, 0, 64<<10)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = e.AppendRecords(buf[:0], recs)
	}
	b.ReportMetric(float64(len(buf))/512, "B/record")
}

func BenchmarkDecodeRecords512(b *testing.B) {
	recs := sampleRecords(rand.New(rand.NewPCG(1, 1)), 512, 1)
	buf, _ := AppendRecords(nil, recs)
	var d Decoder
	var f Frame
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Decode(buf[4:], &f); err != nil {
			b.Fatal(err)
		}
	}
}
