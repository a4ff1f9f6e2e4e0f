package main

import (
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"heartline/scripts/proctest"
)

// BenchmarkProcessCPUPerHeartbeat runs the gateway binary (one UDP loop), offers heartbeats
// at a fixed rate from 1000 sessions, and reads the process's CPU time (utime+stime from
// /proc) around the run. It reports CPU ns per heartbeat, gross and net of the idle cost
// (ticks, feed flushes) measured over the same duration with no traffic, with the recvmmsg
// coalescing wait off (-1ns) and at its default (1ms). USER_HZ resolution is 10 ms: use a few
// seconds of traffic (-benchtime 100000x or more).
//
//	go test -run XXX -bench ProcessCPU -benchtime 200000x ./gateway
func BenchmarkProcessCPUPerHeartbeat(b *testing.B) {
	for _, rate := range []int{5000, 20000, 80000} {
		for _, coalesce := range []string{"-1ns", "1ms"} {
			b.Run(fmt.Sprintf("rate=%d/coalesce=%s", rate, coalesce), func(b *testing.B) { benchProcessCPU(b, rate, coalesce) })
		}
	}
}

func benchProcessCPU(b *testing.B, rate int, coalesce string) {
	const sessions = 1000
	dir := b.TempDir()
	bin := proctest.Build(b, "heartline/gateway")[0]
	secret := make([]byte, 32)
	for i := range secret {
		secret[i] = byte(3*i + 1)
	}
	keyFile := filepath.Join(dir, "keys")
	_ = os.WriteFile(keyFile, []byte("7 "+hex.EncodeToString(secret)+" current\n"), 0o600)
	udp := proctest.FreeAddr(b, "udp")
	admin := proctest.FreeAddr(b, "tcp")
	cmd := exec.Command(bin, "-udp-addr", udp, "-tcp-addr", "", "-admin-addr", admin, "-secret-file", keyFile,
		"-loops", "1", "-max-sessions", "100000", "-feed-socket", filepath.Join(dir, "feed.sock"),
		"-hello-rate", "1e6", "-hello-burst", "1e6", "-log-level", "warn", "-coalesce", coalesce)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	proctest.WaitFor(b, 30*time.Second, "the gateway's /healthz", func() bool {
		resp, err := http.Get("http://" + admin + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	keys := testKeyRing(b)
	// One socket for all sessions (one loop: the source address does not matter).
	clients := make([]*udpClient, sessions)
	for i := range clients {
		clients[i] = newClient(b, keys, udp, uint64(i+1), 1, time.Now())
		clients[i].hello(b, time.Now())
	}
	conn := clients[0].conn
	frames := func(n int) [][]byte {
		out := make([][]byte, n)
		now := time.Now()
		for i := range out {
			c := clients[i%sessions]
			out[i] = c.frame(now, true, false)
		}
		return out
	}
	offer := func(fs [][]byte) time.Duration {
		start := time.Now()
		per := time.Second / time.Duration(rate)
		for i, f := range fs {
			if i%100 == 0 {
				if ahead := time.Until(start.Add(time.Duration(i) * per)); ahead > 0 {
					time.Sleep(ahead)
				}
			}
			_, _ = conn.Write(f)
		}
		return time.Since(start)
	}
	fs := frames(b.N)
	cpu0 := procCPU(b, cmd.Process.Pid)
	b.ResetTimer()
	wall := offer(fs)
	time.Sleep(50 * time.Millisecond) // let the loop finish the tail
	b.StopTimer()
	busy := procCPU(b, cmd.Process.Pid) - cpu0
	idle0 := procCPU(b, cmd.Process.Pid)
	time.Sleep(wall + 50*time.Millisecond)
	idle := procCPU(b, cmd.Process.Pid) - idle0
	b.ReportMetric(float64(busy.Nanoseconds())/float64(b.N), "cpu-ns/heartbeat")
	b.ReportMetric(float64((busy-idle).Nanoseconds())/float64(b.N), "net-cpu-ns/heartbeat")
	b.ReportMetric(float64(b.N)/wall.Seconds(), "offered/s")
	// Loopback UDP may drop a few datagrams when the sender outruns the receiver on a busy
	// 2-core machine; what matters is that the gateway accepted (nearly) all it was sent.
	got := metricB(b, admin, "heartline_gateway_heartbeats_total")
	b.ReportMetric(got/float64(b.N), "accepted-fraction")
	if got < 0.99*float64(b.N) {
		b.Fatalf("gateway accepted %v of %d heartbeats", got, b.N)
	}
}

// procCPU returns utime+stime of pid.
func procCPU(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Skipf("no /proc: %v", err)
	}
	s := string(raw)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(fields[11], 10, 64)
	st, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ = 100 on Linux
}

func metricB(b *testing.B, addr, name string) float64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		b.Fatalf("metric %s not found", name)
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}
