package main

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// bar is one bar of a chart: the median with a min-max whisker.
type bar struct {
	label         string
	min, med, max float64
}

// chart is a horizontal bar chart with whiskers.
type chart struct {
	id, file, title, unit string
	bars                  []bar
	marker                float64 // a vertical reference line (e.g. ratio 1); 0 = none
	log                   bool    // logarithmic axis (ratios spanning 0.5x to 100x)
	labelW                int     // width of the label column; default 230
}

// scaleMax returns a round axis maximum >= v (1, 2, 2.5, 5 x 10^k).
func scaleMax(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func (c chart) svg() string {
	const right, top, rowH, barH = 90, 40, 26, 16
	left := 230
	if c.labelW > 0 {
		left = c.labelW
	}
	width := left + 590
	plotW := float64(width - left - right)
	height := top + rowH*len(c.bars) + 40
	vmax := 0.0
	for _, b := range c.bars {
		vmax = math.Max(vmax, math.Max(b.max, b.med))
	}
	vmax = scaleMax(vmax)
	vmin := 0.0
	ticks := []float64{0, vmax / 4, vmax / 2, 3 * vmax / 4, vmax}
	x := func(v float64) float64 { return float64(left) + plotW*v/vmax }
	if c.log {
		vmin = 0.5
		ticks = []float64{0.5, 1, 2, 5, 10, 20, 50, 100}
		for ticks[len(ticks)-1] < vmax {
			ticks = append(ticks, ticks[len(ticks)-1]*10)
		}
		vmax = ticks[len(ticks)-1]
		x = func(v float64) float64 {
			v = math.Max(v, vmin)
			return float64(left) + plotW*math.Log10(v/vmin)/math.Log10(vmax/vmin)
		}
	}
	var s strings.Builder
	fmt.Fprintf(&s, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&s, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&s, `<text x="%d" y="20" font-size="14" font-weight="bold">%s</text>`+"\n", 10, html.EscapeString(c.title))
	for _, v := range ticks {
		fmt.Fprintf(&s, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`+"\n", x(v), top-5, x(v), height-30)
		fmt.Fprintf(&s, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%s</text>`+"\n", x(v), height-15, num(v))
	}
	fmt.Fprintf(&s, `<text x="%d" y="%d" text-anchor="end" fill="#555">%s</text>`+"\n", width-10, height-15, html.EscapeString(c.unit))
	if c.marker > 0 && c.marker <= vmax {
		fmt.Fprintf(&s, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#c00" stroke-dasharray="4 3"/>`+"\n", x(c.marker), top-5, x(c.marker), height-30)
	}
	for i, b := range c.bars {
		y := top + i*rowH
		fmt.Fprintf(&s, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-8, y+barH-3, html.EscapeString(b.label))
		if b.med <= 0 {
			fmt.Fprintf(&s, `<text x="%d" y="%d" fill="#c00">no sample</text>`+"\n", left+4, y+barH-3)
			continue
		}
		fmt.Fprintf(&s, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="#4a7bd0"/>`+"\n", left, y, x(b.med)-float64(left), barH)
		if b.max > b.min {
			cy := y + barH/2
			fmt.Fprintf(&s, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#222"/>`+"\n", x(b.min), cy, x(b.max), cy)
			fmt.Fprintf(&s, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#222"/>`+"\n", x(b.min), cy-4, x(b.min), cy+4)
			fmt.Fprintf(&s, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#222"/>`+"\n", x(b.max), cy-4, x(b.max), cy+4)
		}
		fmt.Fprintf(&s, `<text x="%.1f" y="%d">%s</text>`+"\n", math.Max(x(b.med), x(b.max))+6, y+barH-3, num(b.med))
	}
	s.WriteString("</svg>\n")
	return s.String()
}

// num formats a value with about three significant digits.
func num(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}
