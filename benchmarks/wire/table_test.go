package wire

import (
	"testing"

	"heartline/protocol/hl1"
)

func TestPresharedTableAcceptsSealedBeatsAndRejectsReplays(t *testing.T) {
	const start = int64(1_767_225_600_000)
	tb := NewPresharedTable(10, 3, start)
	beat := func(slot uint32, seq, ts uint64) []byte {
		return hl1.AppendHeartbeat(nil, hl1.Beat{Slot: slot, Epoch: 3, Seq: seq, TS: ts, Active: true}.Seal(PresharedKey(slot)))
	}
	if ok, bad := tb.Apply(beat(4, 1, 100), start+1000); ok != 1 || bad != 0 {
		t.Fatalf("fresh beat: ok=%d bad=%d", ok, bad)
	}
	if ok, _ := tb.Apply(beat(4, 1, 100), start+1000); ok != 0 {
		t.Fatal("replay accepted")
	}
	if ok, _ := tb.Apply(beat(5, 1, 100), start+1000); ok != 1 {
		t.Fatal("another slot's beat rejected")
	}
	f := beat(6, 1, 100)
	f[len(f)-1] ^= 1
	if ok, _ := tb.Apply(f, start+1000); ok != 0 {
		t.Fatal("forged tag accepted")
	}
	if ok, _ := tb.Apply(beat(11, 1, 100), start+1000); ok != 0 {
		t.Fatal("slot beyond the table accepted")
	}
	var b hl1.Batch
	for s := uint32(1); s <= 3; s++ {
		h, _ := hl1.ParseHeartbeat(beat(s, 1, 100))
		if err := b.Add(h); err != nil {
			t.Fatal(err)
		}
	}
	frame, err := hl1.AppendBatch(nil, &b)
	if err != nil {
		t.Fatal(err)
	}
	if ok, bad := tb.Apply(frame, start+1000); ok != 3 || bad != 0 {
		t.Fatalf("BATCH: ok=%d bad=%d", ok, bad)
	}
	allocs := testing.AllocsPerRun(100, func() { tb.Apply(beat(7, 1, 100), start+1000) })
	_ = allocs // beat() itself allocates; the Apply path is measured below
	fr := beat(8, 1, 100)
	if a := testing.AllocsPerRun(100, func() { tb.Apply(fr, start+1000) }); a != 0 {
		t.Fatalf("Apply allocates %.1f per frame", a)
	}
}
