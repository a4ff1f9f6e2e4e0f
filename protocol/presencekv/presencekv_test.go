package presencekv

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"sort"
	"testing"
)

func randomSessions(r *rand.Rand, n int) []Session {
	seen := map[[2]uint64]bool{}
	var out []Session
	for len(out) < n {
		s := Session{User: r.Uint64() >> r.IntN(64), Device: r.Uint32() >> r.IntN(32), Status: uint8(1 + r.IntN(2)), Since: 1_700_000_000_000 + r.Int64N(1e9)}
		k := [2]uint64{s.User, uint64(s.Device)}
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].User < out[j].User || out[i].User == out[j].User && out[i].Device < out[j].Device
	})
	return out
}

func TestSessionsRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var c Codec
	for _, n := range []int{0, 1, 2, 63, 64, 65, 1000} {
		in := randomSessions(r, n)
		b, err := c.AppendSessions(nil, in)
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.DecodeSessions(nil, b)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if len(in) == 0 && len(out) == 0 {
			continue
		}
		if !reflect.DeepEqual(in, out) {
			t.Fatalf("n=%d: round trip differs", n)
		}
		if _, err := c.DecodeSessions(nil, append(b, 0)); !errors.Is(err, ErrTrailing) {
			t.Fatalf("trailing byte: got %v", err)
		}
		if _, err := c.DecodeSessions(nil, b[:len(b)-1]); err == nil {
			t.Fatalf("n=%d: truncated value decoded", n)
		}
	}
}

func TestSessionsRejectUnsorted(t *testing.T) {
	var c Codec
	_, err := c.AppendSessions(nil, []Session{{User: 5, Device: 1}, {User: 5, Device: 1}})
	if !errors.Is(err, ErrNotSorted) {
		t.Fatalf("duplicate session: got %v", err)
	}
	_, err = c.AppendSessions(nil, []Session{{User: 6}, {User: 5}})
	if !errors.Is(err, ErrNotSorted) {
		t.Fatalf("decreasing users: got %v", err)
	}
}

func TestDecodersRejectWrongMagicAndShortInput(t *testing.T) {
	var c Codec
	for _, in := range [][]byte{nil, {'P'}, {'X', 1, 0}} {
		if _, err := c.DecodeSessions(nil, in); err == nil {
			t.Fatalf("DecodeSessions(%v) accepted", in)
		}
		if _, err := c.DecodeLastSeen(nil, in); err == nil {
			t.Fatalf("DecodeLastSeen(%v) accepted", in)
		}
		var r ChangeRecord
		if err := c.DecodeChangeRecord(&r, in); err == nil {
			t.Fatalf("DecodeChangeRecord(%v) accepted", in)
		}
	}
}

func TestLastSeenRoundTripAndMerge(t *testing.T) {
	var c Codec
	a := []LastSeen{{1, 100}, {3, 300}, {5, 50}}
	b := []LastSeen{{1, 150}, {2, 200}, {5, 40}, {9, 10}}
	m := MergeLastSeen(nil, a, b, 45)
	want := []LastSeen{{1, 150}, {2, 200}, {3, 300}, {5, 50}}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("merge = %v, want %v", m, want)
	}
	enc, err := c.AppendLastSeen(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.DecodeLastSeen(nil, enc)
	if err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("round trip: %v %v", got, err)
	}
	if _, err := c.AppendLastSeen(nil, []LastSeen{{2, 1}, {2, 2}}); !errors.Is(err, ErrNotSorted) {
		t.Fatalf("duplicate user: %v", err)
	}
}

func TestChangeRecordRoundTrip(t *testing.T) {
	var c Codec
	r := rand.New(rand.NewPCG(3, 4))
	in := ChangeRecord{Epoch: r.Uint64()}
	for e := 0; e < 5; e++ {
		ent := ChangeEntry{Seq: uint64(10 + e), Index: uint64(1000 * e), Incomplete: e == 3}
		for i := 0; i < r.IntN(300); i++ {
			ent.Transitions = append(ent.Transitions, Transition{
				Kind: uint8(1 + r.IntN(3)), User: r.Uint64(), Device: r.Uint32(), Status: uint8(1 + r.IntN(2)), At: r.Int64N(1 << 45),
			})
		}
		in.Entries = append(in.Entries, ent)
	}
	b := c.AppendChangeRecord(nil, &in)
	var out ChangeRecord
	if err := c.DecodeChangeRecord(&out, b); err != nil {
		t.Fatal(err)
	}
	for i := range in.Entries {
		if len(in.Entries[i].Transitions) == 0 {
			in.Entries[i].Transitions = out.Entries[i].Transitions[:0]
		}
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip differs")
	}
	if err := c.DecodeChangeRecord(&out, append(b, 1)); !errors.Is(err, ErrTrailing) {
		t.Fatalf("trailing: %v", err)
	}
}

func TestBucketIsStableAndSpread(t *testing.T) {
	const n = 64
	var counts [n]int
	for u := uint64(0); u < 64000; u++ {
		b := Bucket(u, n)
		if b != Bucket(u, n) || b >= n {
			t.Fatalf("bucket(%d) = %d", u, b)
		}
		counts[b]++
	}
	for b, c := range counts {
		if c < 800 || c > 1200 {
			t.Fatalf("bucket %d got %d of 64000 sequential users; the mix does not spread", b, c)
		}
	}
}

func TestKeysParse(t *testing.T) {
	k := PresenceKey("hl", 42, "gw-1")
	if b, gw, ok := ParsePresenceKey("hl", k); !ok || b != 42 || gw != "gw-1" {
		t.Fatalf("ParsePresenceKey(%q) = %d %q %v", k, b, gw, ok)
	}
	if gw, lane, ok := ParseChangesKey("hl", ChangesKey("hl", "gw.2", 3)); !ok || gw != "gw.2" || lane != 3 {
		t.Fatalf("ParseChangesKey = %q %d %v", gw, lane, ok)
	}
	if b, ok := ParseLastSeenKey("hl", LastSeenKey("hl", 7)); !ok || b != 7 {
		t.Fatal("ParseLastSeenKey")
	}
	if ValidateGatewayID("a/b") == nil || ValidateGatewayID("") == nil || ValidateGatewayID("gw_1.x-y") != nil {
		t.Fatal("ValidateGatewayID")
	}
	if _, err := DecodeConfig(EncodeConfig(Config{Version: ConfigVersion, Buckets: 0})); err == nil {
		t.Fatal("config with 0 buckets accepted")
	}
	if c, err := DecodeConfig(EncodeConfig(Config{Version: ConfigVersion, Buckets: 128})); err != nil || c.Buckets != 128 {
		t.Fatalf("config round trip: %v %v", c, err)
	}
}

func TestAppendSessionsAllocFree(t *testing.T) {
	var c Codec
	in := randomSessions(rand.New(rand.NewPCG(5, 6)), 500)
	buf := make([]byte, 0, 64<<10)
	out := make([]Session, 0, 1000)
	c.AppendSessions(buf, in) //nolint:errcheck // warm the scratch columns
	allocs := testing.AllocsPerRun(50, func() {
		b, _ := c.AppendSessions(buf[:0], in)
		out, _ = c.DecodeSessions(out[:0], b)
	})
	if allocs != 0 {
		t.Fatalf("encode+decode of a bucket value allocates %.1f times", allocs)
	}
}
