package main

import (
	"math/rand/v2"
	"testing"
)

func TestWheelFiresAtDueTimeAndRefilesLazily(t *testing.T) {
	s := newSessions(3)
	w := newWheel(1, 100)
	w.file(s, 0, 5)
	w.file(s, 1, 5)
	w.file(s, 2, 1000) // beyond the horizon: clamped, must be re-filed when its bucket fires
	fired := map[int32]uint32{}
	for now := uint32(0); now <= 1200; now++ {
		w.advance(s, now, func(i int32) {
			if s.due[i] = map[int32]uint32{0: 5, 1: 5, 2: 1000}[i]; s.due[i] > now {
				w.file(s, i, s.due[i])
				return
			}
			if _, dup := fired[i]; dup {
				t.Fatalf("session %d fired twice", i)
			}
			fired[i] = now
		})
	}
	if fired[0] != 5 || fired[1] != 5 || fired[2] != 1000 {
		t.Fatalf("fired at %v, want 0,1 at 5 and 2 at 1000", fired)
	}
	for i := range s.flags {
		if s.flags[i]&flInWheel != 0 {
			t.Fatalf("session %d still marked in the wheel", i)
		}
	}
}

func TestWheelNeverFilesInThePast(t *testing.T) {
	s := newSessions(1)
	w := newWheel(1, 10)
	w.advance(s, 50, func(int32) {})
	w.file(s, 0, 3) // overdue: must fire at the next advance, not a wheel turn later
	n := 0
	w.advance(s, 51, func(int32) { n++ })
	if n != 1 {
		t.Fatalf("overdue session fired %d times at the next tick, want 1", n)
	}
}

func TestNextDueStaysInJitterBand(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var lo, hi uint32 = 1 << 31, 0
	var sum float64
	const n = 20000
	for k := 0; k < n; k++ {
		d := nextDue(1000, 10000, 0.1, r.Float64()) - 1000
		lo, hi = min(lo, d), max(hi, d)
		sum += float64(d)
	}
	if lo < 9000 || hi > 11000 {
		t.Fatalf("delays in [%d,%d], want within [9000,11000]", lo, hi)
	}
	if lo > 9100 || hi < 10900 {
		t.Fatalf("delays in [%d,%d]: jitter does not use its band", lo, hi)
	}
	if mean := sum / n; mean < 9950 || mean > 10050 {
		t.Fatalf("mean delay %.0f, want about 10000", mean)
	}
	if d := nextDue(0, 10, 0, 0.99); d != 10 {
		t.Fatalf("no jitter: got %d, want 10", d)
	}
}

func TestBucketRate(t *testing.T) {
	b := newBucket(1000, 10) // 1 per ms, burst 10
	if got := b.take(0, 100); got != 10 {
		t.Fatalf("initial burst %d, want 10", got)
	}
	if got := b.take(0, 100); got != 0 {
		t.Fatalf("empty bucket gave %d", got)
	}
	if got := b.take(5, 100); got != 5 {
		t.Fatalf("after 5 ms got %d, want 5", got)
	}
	if got := b.take(1000, 100); got != 10 {
		t.Fatalf("refill is capped by the burst: got %d, want 10", got)
	}
	total := 0
	for now := uint32(2000); now < 3000; now++ {
		total += b.take(now, 3)
	}
	if total < 995 || total > 1010 {
		t.Fatalf("1 s at 1000/s gave %d tokens", total)
	}
	z := newBucket(0, 0)
	if z.take(100, 5) != 0 {
		t.Fatal("a zero-rate bucket must give nothing")
	}
	u := unlimited()
	if u.take(0, 7) != 7 {
		t.Fatal("unlimited bucket must give everything")
	}
}

func TestSlotMapAgainstGoMap(t *testing.T) {
	m := newSlotMap(1000)
	ref := map[uint32]int32{}
	r := rand.New(rand.NewPCG(3, 4))
	for step := 0; step < 200000; step++ {
		slot := uint32(r.IntN(1500)) + 1
		switch r.IntN(3) {
		case 0, 1:
			if len(ref) < 1000 || ref[slot] != 0 {
				if !m.put(slot, int32(step)) {
					t.Fatal("put failed below capacity")
				}
				ref[slot] = int32(step)
			}
		case 2:
			m.del(slot)
			delete(ref, slot)
		}
		if step%997 == 0 {
			for s := uint32(1); s <= 1500; s++ {
				got, ok := m.get(s)
				want, wok := ref[s]
				if ok != wok || got != want {
					t.Fatalf("step %d slot %d: got %d,%v want %d,%v", step, s, got, ok, want, wok)
				}
			}
			if m.n != len(ref) {
				t.Fatalf("count %d, want %d", m.n, len(ref))
			}
		}
	}
}

func TestPartitionCoversEverySessionOnce(t *testing.T) {
	for _, c := range []struct{ n, k int }{{10, 3}, {1, 4}, {7, 7}, {1000001, 8}} {
		seen := make([]bool, c.n)
		total := 0
		for w := 0; w < c.k; w++ {
			p := partitionSize(c.n, c.k, w)
			total += p
			for i := 0; i < p; i++ {
				g := globalID(i, c.k, w)
				if g >= uint64(c.n) || seen[g] {
					t.Fatalf("n=%d k=%d: id %d out of range or repeated", c.n, c.k, g)
				}
				seen[g] = true
			}
		}
		if total != c.n {
			t.Fatalf("n=%d k=%d: partitions hold %d", c.n, c.k, total)
		}
	}
}
