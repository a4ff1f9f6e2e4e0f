package main

import (
	"fmt"
	"os"
	"time"

	"heartline/agent/watcher"
)

// dashboard prints the demo's live figures once a second: in place on a terminal, as a
// plain line every five seconds otherwise (CI logs).
type dashboard struct {
	c     *cluster
	w     *watcher.Watcher
	pr    *prober
	tty   bool
	last  map[string]float64
	at    time.Time
	ticks int
}

func newDashboard(c *cluster, w *watcher.Watcher, pr *prober) *dashboard {
	fi, _ := os.Stdout.Stat()
	return &dashboard{c: c, w: w, pr: pr, tty: fi != nil && fi.Mode()&os.ModeCharDevice != 0}
}

func (d *dashboard) refresh() {
	var gws, ags []metrics
	for _, g := range d.c.gateways {
		if m, err := scrape("http://" + g.admin + "/metrics"); err == nil {
			gws = append(gws, m)
		}
		if m, err := scrape("http://" + g.agentHTTP + "/metrics"); err == nil {
			ags = append(ags, m)
		}
	}
	now := time.Now()
	cur := map[string]float64{
		"hb":      sum(gws, "heartline_gateway_heartbeats_total"),
		"drop":    sum(gws, "heartline_gateway_frames_dropped_total"),
		"txn":     sum(ags, "heartline_agent_txns_total"),
		"ops":     sum(ags, "heartline_agent_txn_ops_sum"),
		"opsN":    sum(ags, "heartline_agent_txn_ops_count"),
		"session": sum(gws, "heartline_gateway_sessions_online"),
	}
	if d.last != nil {
		dt := now.Sub(d.at).Seconds()
		rate := func(k string) float64 { return (cur[k] - d.last[k]) / dt }
		opsPerTxn := 0.0
		if n := cur["opsN"] - d.last["opsN"]; n > 0 {
			opsPerTxn = (cur["ops"] - d.last["ops"]) / n
		}
		lat := d.pr.latencies()
		line := fmt.Sprintf("members online %6d | sessions %6.0f | heartbeats/s %7.0f | Consul txns/s %5.1f, ops/txn %5.1f | ONLINE p99 %6s | dropped %.0f",
			d.w.Stats().OnlineUsers, cur["session"], rate("hb"), rate("txn"), opsPerTxn, ms(lat.ValueAtQuantile(99)), cur["drop"])
		d.ticks++
		if d.tty {
			fmt.Printf("\r\033[K%s", line)
		} else if d.ticks%5 == 0 {
			fmt.Println(line)
		}
	}
	d.last, d.at = cur, now
}
