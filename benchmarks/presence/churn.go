package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"heartline/benchmarks/procstat"
)

// churn drives logouts and logins with the loadgen and counts what reaches Consul.
func (b *bench) churn(ctx context.Context, w *watcher, res *Result, bin string, sessions int, rate float64, d time.Duration) error {
	args := []string{"-mode", "run", "-targets", b.udp, "-keys", b.keysPath, "-sessions", strconv.Itoa(sessions), "-user-base", "10000000",
		"-churn", fmt.Sprint(rate), "-duration", d.String(), "-hello-rate", "18000", "-live=false", "-out", "-"}
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "loadgen"), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	// Warm-up HELLOs (ONLINE transitions) happen before the loadgen's window; the counters
	// below cover the whole run and the expected count is taken from the loadgen's totals.
	w.resetWindow()
	t0, r0, q0, a0 := b.proxy.Txns.Load(), b.proxy.TxnReq.Load(), b.proxy.TxnResp.Load(), b.proxy.ReqBytes.Load()
	cpu0, _ := procstat.CPUNanos(b.agentPID)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("loadgen churn: %v: %s", err, errb.String())
	}
	time.Sleep(3 * time.Second) // let the last flushes land
	cpu1, _ := procstat.CPUNanos(b.agentPID)
	var sum struct {
		Totals struct{ Welcomed, Byes uint64 } `json:"totals"`
	}
	if err := json.Unmarshal(out.Bytes(), &sum); err != nil {
		return fmt.Errorf("loadgen summary: %v", err)
	}
	seen, inc, gaps, first, last := w.counts()
	c := &Churn{TransitionsSeen: seen, TransitionsExpected: sum.Totals.Welcomed + sum.Totals.Byes, IncompleteEntries: inc, SeqGaps: gaps,
		Txns: b.proxy.Txns.Load() - t0, TxnReqBytes: b.proxy.TxnReq.Load() - r0, TxnRespBytes: b.proxy.TxnResp.Load() - q0, AllReqBytes: b.proxy.ReqBytes.Load() - a0}
	c.Seconds = last.Sub(first).Seconds()
	n := float64(max(c.TransitionsExpected, c.TransitionsSeen))
	if c.Seconds > 0 {
		c.TransitionsPerSecond = float64(seen) / c.Seconds
	}
	if n > 0 {
		c.TxnsPerTransition = float64(c.Txns) / n
		c.BytesPerTransition = float64(c.TxnReqBytes) / n
		if cpu1 > cpu0 {
			c.AgentCPUNSPerTrans = float64(cpu1-cpu0) / n
		}
	}
	res.Churn = c
	fmt.Fprintf(os.Stderr, "presence: churn %.0f transitions/s seen in Consul (%d seen, %d expected), %.4f txns and %.1f request bytes per transition\n",
		c.TransitionsPerSecond, seen, c.TransitionsExpected, c.TxnsPerTransition, c.BytesPerTransition)
	return nil
}
