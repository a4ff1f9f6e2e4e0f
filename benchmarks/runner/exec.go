package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// running holds the processes the runner started and has not stopped yet, so an
// interrupted run (Ctrl-C, SIGTERM) stops them instead of leaving them behind.
var running sync.Map // pid -> *exec.Cmd

func track(cmd *exec.Cmd)   { running.Store(cmd.Process.Pid, cmd) }
func untrack(cmd *exec.Cmd) { running.Delete(cmd.Process.Pid) }

// stopAllOnSignal kills every tracked process group when the runner is interrupted.
func stopAllOnSignal() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ch
		// SIGTERM first (presence stops Consul, gateway and agent itself), then SIGKILL.
		running.Range(func(k, v any) bool {
			_ = syscall.Kill(k.(int), syscall.SIGCONT)
			_ = syscall.Kill(k.(int), syscall.SIGTERM)
			return true
		})
		time.Sleep(3 * time.Second)
		running.Range(func(k, v any) bool {
			_ = syscall.Kill(-k.(int), syscall.SIGKILL) // its process group (Setpgid)
			_ = syscall.Kill(k.(int), syscall.SIGKILL)
			return true
		})
		fmt.Fprintln(os.Stderr, "runner: interrupted; stopped the servers it had started")
		os.Exit(130)
	}()
}

// server is a running server process.
type server struct {
	cmd      *exec.Cmd
	pid      int
	udp      string // 127.0.0.1:port
	statsURL string
	log      *bytes.Buffer
}

// startServer runs bin with args (placeholders {listen} {stats} {keys} expanded) and env,
// and waits until its /stats answers (or, without stats, until its UDP port is bound).
func (r *runner) startServer(c *caseDef, port int) (*server, error) {
	s := &server{udp: fmt.Sprintf("127.0.0.1:%d", port), log: &bytes.Buffer{}}
	stats := fmt.Sprintf("127.0.0.1:%d", port+1)
	args := make([]string, 0, len(c.ServerArgs))
	hasStats := false
	for _, a := range c.ServerArgs {
		if strings.Contains(a, "{stats}") {
			hasStats = true
		}
		a = strings.ReplaceAll(a, "{listen}", s.udp)
		a = strings.ReplaceAll(a, "{stats}", stats)
		a = strings.ReplaceAll(a, "{keys}", r.keys)
		a = strings.ReplaceAll(a, "{redis}", r.redisAddr)
		a = strings.ReplaceAll(a, "{dir}", r.out)
		a = strings.ReplaceAll(a, "{port}", strconv.Itoa(port))
		a = strings.ReplaceAll(a, "{tcpport}", strconv.Itoa(port+2))
		args = append(args, a)
	}
	bin := c.ServerBin
	if !filepath.IsAbs(bin) && !strings.Contains(bin, "/") {
		bin = filepath.Join(r.bin, bin)
	}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Env = append(os.Environ(), c.Env...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	s.pid = s.cmd.Process.Pid
	track(s.cmd)
	if hasStats {
		path := c.StatsPath
		if path == "" {
			path = "/stats"
		}
		s.statsURL = "http://" + stats + path
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if s.statsURL != "" {
			cl := http.Client{Timeout: 200 * time.Millisecond}
			if resp, err := cl.Get(s.statsURL); err == nil {
				resp.Body.Close()
				return s, nil
			}
		} else if udpBound(port) {
			return s, nil
		}
		if s.cmd.ProcessState != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.stop()
	return nil, fmt.Errorf("%s did not come up: %s", bin, s.log.String())
}

func udpBound(port int) bool {
	for _, p := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, []byte(fmt.Sprintf(":%04X ", port))) {
			return true
		}
	}
	return false
}

func (s *server) stop() {
	defer untrack(s.cmd)
	_ = syscall.Kill(s.pid, syscall.SIGCONT) // in case a drain round was interrupted
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}

// loadgenSummary is the part of the loadgen's JSON summary the runner reads.
type loadgenSummary struct {
	Online int64 `json:"online"`
	Window *struct {
		DatagramsPerS float64           `json:"datagrams_per_s"`
		SocketDrops   uint64            `json:"socket_drops"`
		CPUNSPerBeat  float64           `json:"cpu_ns_per_heartbeat"`
		CPUNSPerDgram float64           `json:"cpu_ns_per_datagram"`
		RSSBefore     int64             `json:"rss_before_hello"`
		RSSAfter      int64             `json:"rss_after"`
		RSSPerSession float64           `json:"rss_bytes_per_session"`
		StatsBefore   map[string]uint64 `json:"stats_before"`
		StatsAfter    map[string]uint64 `json:"stats_after"`
		Heartbeats    uint64            `json:"heartbeats"`
	} `json:"window"`
	Drain []struct {
		CPUNSPerBeat   float64 `json:"cpu_ns_per_heartbeat"`
		CPUNSPerDgram  float64 `json:"cpu_ns_per_datagram"`
		WallNSPerDgram float64 `json:"wall_ns_per_datagram"`
		SocketDrops    uint64  `json:"socket_drops"`
		Accepted       uint64  `json:"accepted"`
		AllocsPerBeat  float64 `json:"allocs_per_heartbeat"`
		GCCycles       uint64  `json:"gc_cycles"`
		HaveAllocs     bool    `json:"have_allocs"`
	} `json:"drain"`
	WarmupSeconds float64 `json:"warmup_seconds"`
	Totals        struct {
		Rehellos uint64
	} `json:"totals"`
	Errors []string `json:"errors"`
}

// loadgen runs the loadgen against s with args and returns its summary.
func (r *runner) loadgen(s *server, args []string, extraPIDs []int) (*loadgenSummary, error) {
	full := []string{"-targets", s.udp, "-pid", strconv.Itoa(s.pid), "-live=false", "-out", "-", "-keys", r.keys}
	if s.statsURL != "" {
		full = append(full, "-stats-url", s.statsURL)
	}
	if len(extraPIDs) > 0 {
		var ps []string
		for _, p := range extraPIDs {
			ps = append(ps, strconv.Itoa(p))
		}
		full = append(full, "-extra-pids", strings.Join(ps, ","))
	}
	full = append(full, args...)
	cmd := exec.Command(filepath.Join(r.bin, "loadgen"), full...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	runErr := cmd.Start()
	if runErr == nil {
		track(cmd)
		runErr = cmd.Wait()
		untrack(cmd)
	}
	var sum loadgenSummary
	if err := json.Unmarshal(out.Bytes(), &sum); err != nil {
		return nil, fmt.Errorf("loadgen %v: %v; stderr: %s", full, runErr, errb.String())
	}
	if runErr != nil {
		return &sum, fmt.Errorf("loadgen: %v: %s", runErr, strings.Join(sum.Errors, "; "))
	}
	return &sum, nil
}
