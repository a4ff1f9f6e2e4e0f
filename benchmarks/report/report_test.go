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
	for _, want := range []string{"| naive / gateway | 3.10 | 3.50 | 3.90 | >= 3.3x | met |", "| gateway | g | 900 | 1000 | 1200 | - | - | - | 3 |", "rep 2: boom", "charts/cpu-drain.svg"} {
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
