package conformance

import (
	"testing"

	"heartline/protocol/hl1"
)

// batchEntries: a listed relay's BATCH is applied entry by entry, as lone heartbeats, and
// every REHELLO its entries cause comes back in one REHELLOS frame smaller than the BATCH;
// a BATCH that causes none gets no answer.
func (s *suite) batchEntries(t *testing.T) {
	if s.Source == "" {
		t.Skip("no relay Source given")
	}
	p := dialUDP(t, s.UDP, s.Source)
	live, forged, ended := p.online(s.newCreds(t)), p.online(s.newCreds(t)), p.online(s.newCreds(t))
	p.expectSilence("BYE", ended.beat(true))

	batch := entriesBatch(t, live.beat(false), forged.forged(), ended.beat(false), strangerBeat())
	got := p.exchangeBatch(batch, true)
	if len(got) != 1 {
		t.Fatalf("BATCH (live, forged on a live slot, ended, unknown): want one REHELLOS, got %d frames %x", len(got), got)
	}
	rs, err := hl1.ParseRehellos(got[0], nil)
	if err != nil {
		t.Fatalf("answer %x is not a REHELLOS: %v", got[0], err)
	}
	want := map[uint32]hl1.RehelloReason{forged.w.Slot: hl1.RehelloUnknownSlot, ended.w.Slot: hl1.RehelloExpired, strangerSlot: hl1.RehelloUnknownSlot}
	seen := map[uint32]hl1.RehelloReason{}
	for _, r := range rs {
		seen[r.Slot] = r.Reason
	}
	if len(rs) != len(want) || len(seen) != len(want) {
		t.Errorf("REHELLOS entries %+v, want one each of %v", rs, want)
	}
	for slot, reason := range want {
		if seen[slot] != reason {
			t.Errorf("REHELLOS: slot %d got reason %d, want %d (entries %+v)", slot, seen[slot], reason, rs)
		}
	}
	if len(got[0]) >= len(batch) {
		t.Errorf("REHELLOS of %d bytes answers a BATCH of %d: an amplifier", len(got[0]), len(batch))
	}

	if got := p.exchangeBatch(entriesBatch(t, live.beat(false), forged.beat(false)), false); len(got) != 0 {
		t.Errorf("BATCH of valid heartbeats of live sessions: want no answer, got %x", got)
	}
}

// entriesBatch packs 17-byte HEARTBEAT frames into one BATCH, sorted by slot.
func entriesBatch(t testing.TB, beats ...[]byte) []byte {
	t.Helper()
	var b hl1.Batch
	for _, f := range beats {
		h, err := hl1.ParseHeartbeat(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Add(h); err != nil {
			t.Fatal(err)
		}
	}
	b.Sort()
	return must(t)(hl1.AppendBatch(nil, &b))
}
