package main

import "testing"

func TestStatsOf(t *testing.T) {
	s := statsOf([]float64{5, 1, 0, 3, 9})
	if s.N != 4 || s.Min != 1 || s.Max != 9 || s.Median != 4 {
		t.Fatalf("statsOf = %+v, want n=4 min=1 median=4 max=9 (zero = missing sample)", s)
	}
	if s := statsOf([]float64{2, 7, 3}); s.Median != 3 {
		t.Fatalf("odd median = %v", s.Median)
	}
	if s := statsOf(nil); s.N != 0 {
		t.Fatalf("empty: %+v", s)
	}
}

func TestRatioSamplesPairsRepetitions(t *testing.T) {
	r := ratioSamples([]float64{4, 9, 0, 8}, []float64{2, 3, 5})
	want := []float64{2, 3, 0, 0}
	for i := range want {
		if r[i] != want[i] {
			t.Fatalf("ratioSamples = %v, want %v", r, want)
		}
	}
}

func TestPausesOfMissingKeysStayUnmeasured(t *testing.T) {
	p := pausesOf(map[string]uint64{"gc_pause_p50_ns": 80000, "gc_pause_max_ns": 120000})
	if p.p50 != 80000 || p.max != 120000 || p.p99 != -1 {
		t.Fatalf("pausesOf = %+v, want p50 80000, p99 -1 (not exposed), max 120000", p)
	}
	if p := pausesOf(map[string]uint64{}); p != noPauses {
		t.Fatalf("no keys: %+v", p)
	}
}
