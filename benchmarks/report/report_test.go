package main

import (
	"strings"
	"testing"
)

func TestScaleMax(t *testing.T) {
	for _, c := range []struct{ in, want float64 }{{0.7, 1}, {1, 1}, {1.2, 2}, {2.2, 2.5}, {3, 5}, {4300, 5000}, {9999, 10000}, {0, 1}} {
		if got := scaleMax(c.in); got != c.want {
			t.Errorf("scaleMax(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestVerdict(t *testing.T) {
	cases := []struct {
		target string
		med    float64
		want   string
	}{{">= 3.3x", 3.5, "met"}, {">= 3.3x", 3.2, "**missed**"}, {"<= 1.25x", 1.1, "met"}, {"<= 1.25x", 1.3, "**missed**"}, {"", 2, ""}, {">= 2x", 0, ""}}
	for _, c := range cases {
		if got := verdict(c.target, c.med); got != c.want {
			t.Errorf("verdict(%q, %v) = %q, want %q", c.target, c.med, got, c.want)
		}
	}
}

func TestMedianOfSkipsMissing(t *testing.T) {
	if m := medianOf([]float64{0, 5, 1, 3}); m != 3 {
		t.Fatalf("medianOf = %v, want 3", m)
	}
	if m := medianOf([]float64{4, 0, 2, 8, 6}); m != 5 {
		t.Fatalf("even medianOf = %v, want 5", m)
	}
}

func TestChartAndMarkdownCarryTheNumbers(t *testing.T) {
	r := &Results{Reps: 3}
	r.Cases = []*Case{
		{Name: "naive", Group: "drain", Desc: "d", Stats: Stats{N: 3, Min: 3000, Median: 3500, Max: 4000}, Wall: []float64{1, 2, 3}},
		{Name: "gateway", Group: "drain", Desc: "g", Stats: Stats{N: 3, Min: 900, Median: 1000, Max: 1200}, Errors: []string{"rep 2: boom"}},
	}
	r.Ratios = []*Ratio{{Name: "naive / gateway", Num: "naive", Den: "gateway", Target: ">= 3.3x", Stats: Stats{N: 3, Min: 3.1, Median: 3.5, Max: 3.9}}}
	charts := chartsOf(r)
	if len(charts) != 2 {
		t.Fatalf("%d charts, want drain + ratios", len(charts))
	}
	svg := charts[0].svg()
	if !strings.HasPrefix(svg, "<svg") || !strings.Contains(svg, ">3500<") || !strings.Contains(svg, ">naive<") {
		t.Fatalf("drain chart lacks its bars: %s", svg)
	}
	md := markdown(r, map[string]string{"drain": "charts/cpu-drain.svg"})
	for _, want := range []string{"| naive / gateway | 3.10 | 3.50 | 3.90 | >= 3.3x | met |", "| gateway | g | 900 | 1000 | 1200 | - | - | - | - | 3 |", "rep 2: boom", "charts/cpu-drain.svg"} {
		if !strings.Contains(md, want) {
			t.Fatalf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestLogChartPlacesRatiosOnALogAxis(t *testing.T) {
	c := chart{title: "r", log: true, labelW: 300, marker: 1, bars: []bar{{"a", 1, 2, 3}, {"b", 40, 50, 60}}}
	svg := c.svg()
	for _, want := range []string{">0.50<", ">1.00<", ">10.0<", ">100<", ">50.0<"} {
		if !strings.Contains(svg, want) {
			t.Fatalf("log chart lacks %q:\n%s", want, svg)
		}
	}
}

func TestPauseCell(t *testing.T) {
	c := &Case{GCs: []float64{3, 5, 2, 0}, GCPauseP50: []float64{40000, 60000, 50000, 9e6}, GCPauseP99: []float64{-1, -1, -1, -1}, GCPauseMax: []float64{90000, 250000, 100000, 9e6}}
	if got := pauseCell(c); got != "50 / - / 250" {
		t.Fatalf("pauseCell = %q, want 50 / - / 250 (µs; p99 not exposed; the sample without a GC cycle ignored)", got)
	}
	if got := pauseCell(&Case{GCs: []float64{0, 0}, GCPauseP50: []float64{18e6, 18e6}, GCPauseMax: []float64{18e6, 18e6}}); got != "no GC" {
		t.Fatalf("no cycles in any sample: %q", got)
	}
	if got := pauseCell(&Case{GCs: []float64{-1}, GCPauseMax: []float64{-1}}); got != "-" {
		t.Fatalf("not measured: %q", got)
	}
}

func TestStoresTableCarriesRatios(t *testing.T) {
	s := &Stores{Settings: map[string]string{"ops_per_txn": "128"}, Phases: []*StorePhase{
		{Store: "etcd", Shape: "batched", OpsPerS: 40000, TxnsPerS: 312.5, P99ms: 40},
		{Store: "consul", Shape: "batched", OpsPerS: 20000, TxnsPerS: 156.25, P99ms: 50},
		{Store: "etcd", Shape: "single", OpsPerS: 2000, TxnsPerS: 2000},
		{Store: "consul", Shape: "single", OpsPerS: 4000, TxnsPerS: 4000},
	}, Expiry: []*StoreExpiry{{Store: "consul", TTL: 10, Keys: 4096, Seconds: 20.2}}}
	var b strings.Builder
	writeStores(&b, s)
	md := b.String()
	for _, want := range []string{"| etcd / Consul, batched ops/s | 2.00x |", "| etcd / Consul, batched txn p99 | 0.80x |", "| etcd / Consul, single-op ops/s | 0.50x |",
		"| batching factor, Consul (batched / single ops/s) | 5.00x |", "| batching factor, etcd (batched / single ops/s) | 20.00x |", "| etcd / Consul, batched wire bytes per op | - |", "| consul | 10 | 4096 | 20.2 |"} {
		if !strings.Contains(md, want) {
			t.Fatalf("stores table lacks %q:\n%s", want, md)
		}
	}
}
