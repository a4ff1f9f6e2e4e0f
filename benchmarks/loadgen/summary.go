package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// Summary is the JSON the loadgen writes at the end (the harness reads it).
type Summary struct {
	Label     string    `json:"label,omitempty"`
	Mode      string    `json:"mode"`
	Proto     string    `json:"proto"`
	Handshake string    `json:"handshake"`
	Sessions  int       `json:"sessions"`
	Workers   int       `json:"workers"`
	Relay     int       `json:"relay,omitempty"`
	Interval  string    `json:"interval"`
	Started   time.Time `json:"started"`

	WarmupSeconds float64  `json:"warmup_seconds"`
	Online        int64    `json:"online"`
	Totals        Totals   `json:"totals"`
	Window        *Window  `json:"window,omitempty"`
	Drain         []Drain  `json:"drain,omitempty"`
	Errors        []string `json:"errors,omitempty"`
}

// Totals are the senders' counters over the whole run.
type Totals struct {
	Datagrams, Heartbeats, Batches, Hellos, HelloRetries, HelloGaveUp       uint64
	Welcomed, Rehellos, Byes, Lost, StatusChanges, Unmatched, Errors, Bytes uint64
}

// Window is the measured steady-state window of run/cpu mode.
type Window struct {
	Seconds       float64           `json:"seconds"`
	Datagrams     uint64            `json:"datagrams"`
	Heartbeats    uint64            `json:"heartbeats"`
	DatagramsPerS float64           `json:"datagrams_per_s"`
	SocketDrops   uint64            `json:"socket_drops"` // kernel drops at the server's port (local server only)
	Delivered     uint64            `json:"delivered"`    // datagrams - socket drops
	ServerCPUNS   int64             `json:"server_cpu_ns,omitempty"`
	CPUNSPerDgram float64           `json:"cpu_ns_per_datagram,omitempty"`
	CPUNSPerBeat  float64           `json:"cpu_ns_per_heartbeat,omitempty"`
	RSSBefore     int64             `json:"rss_before_hello,omitempty"` // server VmRSS before the first HELLO
	RSSAfter      int64             `json:"rss_after,omitempty"`
	RSSPerSession float64           `json:"rss_bytes_per_session,omitempty"` // (after - before) / online
	StatsBefore   map[string]uint64 `json:"stats_before,omitempty"`
	StatsAfter    map[string]uint64 `json:"stats_after,omitempty"`
}

// Drain is one drain-mode round.
type Drain struct {
	Datagrams      int     `json:"datagrams"`
	Heartbeats     int     `json:"heartbeats"`
	SocketDrops    uint64  `json:"socket_drops"`
	WallNS         int64   `json:"wall_ns"`
	CPUNS          int64   `json:"cpu_ns"`
	WallNSPerDgram float64 `json:"wall_ns_per_datagram"`
	CPUNSPerDgram  float64 `json:"cpu_ns_per_datagram"`
	CPUNSPerBeat   float64 `json:"cpu_ns_per_heartbeat"`
	Accepted       uint64  `json:"accepted,omitempty"` // heartbeats the server counted (its /stats)
	// From the server's counters (go_memstats_mallocs, GC count) when -stats-url is given.
	AllocsPerBeat float64 `json:"allocs_per_heartbeat"`
	GCCycles      uint64  `json:"gc_cycles"`
	HaveAllocs    bool    `json:"have_allocs"`
}

func totals(ws []*worker) Totals {
	var t Totals
	for _, w := range ws {
		c := &w.c
		t.Datagrams += c.Datagrams.Load()
		t.Heartbeats += c.Heartbeats.Load()
		t.Batches += c.Batches.Load()
		t.Hellos += c.Hellos.Load()
		t.HelloRetries += c.HelloRetries.Load()
		t.HelloGaveUp += c.HelloGaveUp.Load()
		t.Welcomed += c.Welcomed.Load()
		t.Rehellos += c.Rehellos.Load()
		t.Byes += c.Byes.Load()
		t.Lost += c.Lost.Load()
		t.StatusChanges += c.StatusChanges.Load()
		t.Unmatched += c.Unmatched.Load()
		t.Errors += c.Errors.Load()
		t.Bytes += c.Bytes.Load()
	}
	return t
}

func online(ws []*worker) int64 {
	var n int64
	for _, w := range ws {
		n += w.c.Online.Load()
	}
	return n
}

func writeSummary(path string, s *Summary) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if path == "-" || path == "" {
		_, err = os.Stdout.Write(b)
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	return nil
}
