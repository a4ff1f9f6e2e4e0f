package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"heartline/scripts/chaos/bed"
)

// agentLoad samples both agents' /metrics once a second during a scenario and summarises
// what their Consul writers went through: the most dirty buckets waiting, the worst feed
// lag, transactions committed with their mean latency and how many took over 1 s, and the
// Consul rejoins the agent made; and each gateway's BYEs, HELLOs and drops by reason. It
// explains (does not judge) a slow recovery.
type agentLoad struct {
	maxDirty, maxLag   [2]float64
	txns0, txns1       [2]float64
	txnSum0, txnSum1   [2]float64
	trans0, trans1     [2]float64
	first, last        [2]bool
	slowTxns0, slowTx1 [2]float64            // transactions slower than 1 s
	rejoins0, rejoins1 [2]float64            // local Consul agent rejoins the agent made (consulrejoin)
	gwPrev             [2]metrics            // last gateway scrape
	gwAcc              [2]map[string]float64 // gateway counters accumulated across scrapes (restarts reset them)
}

// accumulate adds the growth of each gateway counter since the previous scrape; a counter
// that went down belongs to a restarted gateway and counts from zero.
func (a *agentLoad) accumulate(i int, m metrics) {
	if a.gwAcc[i] == nil {
		a.gwAcc[i] = map[string]float64{}
	}
	if prev := a.gwPrev[i]; prev != nil {
		for k, v := range m {
			if !strings.HasPrefix(k, mp+"frames_dropped_total") && k != mp+"byes_total" && k != mp+"hellos_total" {
				continue
			}
			if d := v - prev[k]; d >= 0 {
				a.gwAcc[i][k] += d
			} else {
				a.gwAcc[i][k] += v
			}
		}
	}
	a.gwPrev[i] = m
}

func agentMetricsURL(b *bed.Bed, i int) string {
	return fmt.Sprintf("http://%s:%d/metrics", b.GWHosts[i].IP, bed.AgentHTTP)
}

// sampleAgents runs until ctx ends.
func (a *agentLoad) sampleAgents(ctx context.Context, b *bed.Bed) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		for i := range 2 {
			m, err := scrape(agentMetricsURL(b, i))
			if err != nil {
				continue
			}
			txns := m.sumPrefix("heartline_agent_txns_total")
			sum := m.get("heartline_agent_txn_seconds_sum")
			trans := m.get("heartline_agent_transitions_committed_total")
			slow := m.get("heartline_agent_txn_seconds_count") - m.get(`heartline_agent_txn_seconds_bucket{le="1.024"}`)
			rejoins := m.get(`heartline_agent_consul_rejoins_total{result="ok"}`)
			if !a.first[i] {
				a.rejoins0[i] = rejoins
				a.first[i] = true
				a.txns0[i], a.txnSum0[i], a.trans0[i], a.slowTxns0[i] = txns, sum, trans, slow
			}
			a.txns1[i], a.txnSum1[i], a.trans1[i], a.slowTx1[i] = txns, sum, trans, slow
			a.last[i], a.rejoins1[i] = true, rejoins
			a.maxDirty[i] = max(a.maxDirty[i], m.get("heartline_agent_dirty_buckets"))
			if g, err := scrape(b.MetricsURL(i)); err == nil {
				a.accumulate(i, g)
			}
			a.maxLag[i] = max(a.maxLag[i], m.get("heartline_agent_feed_lag_seconds"))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *agentLoad) String() string {
	var parts []string
	for i := range 2 {
		if !a.last[i] {
			continue
		}
		n := a.txns1[i] - a.txns0[i]
		mean := 0.0
		if n > 0 {
			mean = (a.txnSum1[i] - a.txnSum0[i]) / n * 1000
		}
		parts = append(parts, fmt.Sprintf("agent-g%d: %.0f transitions in %.0f txns (mean %.0f ms, %.0f over 1 s), max dirty buckets %.0f, max feed lag %.1fs, Consul rejoins %.0f",
			i+1, a.trans1[i]-a.trans0[i], n, mean, a.slowTx1[i]-a.slowTxns0[i], a.maxDirty[i], a.maxLag[i], a.rejoins1[i]-a.rejoins0[i]))
	}
	for i := range 2 {
		acc := metrics(a.gwAcc[i])
		if acc == nil {
			continue
		}
		drops := map[string]float64{}
		for k, v := range acc.byLabel(mp + "frames_dropped_total") {
			if v != 0 {
				drops[k] = v
			}
		}
		parts = append(parts, fmt.Sprintf("gw%d: %.0f BYEs accepted, %.0f HELLOs answered, drops {%s}", i+1,
			acc.get(mp+"byes_total"), acc.get(mp+"hellos_total"), kvf(drops)))
	}
	return strings.Join(parts, "; ")
}
