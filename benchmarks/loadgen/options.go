package main

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"
)

// Options are the loadgen's flags (README.md lists them with examples).
type Options struct {
	Mode       string // run | cpu | drain
	Targets    []netip.AddrPort
	Sessions   int
	UserBase   uint64
	DeviceID   uint32
	Workers    int // sockets (one goroutine each)
	Bind       netip.Addr
	Proto      string // hl1 | json
	Handshake  string // hello | none
	KeysFile   string
	Epoch      uint32 // epoch for -handshake none
	Interval   time.Duration
	Jitter     float64 // fraction of the interval, uniform in [-j, +j]
	HelloRate  float64 // HELLOs per second, all workers together
	HelloWin   int     // outstanding HELLOs per worker
	HelloRetry time.Duration
	HelloTries int
	HelloWait  time.Duration // give up waiting for all sessions after this
	Churn      float64       // logouts (BYE + later HELLO) per second, all workers
	StatusFlip float64       // probability per heartbeat of toggling active/idle
	Loss       float64       // probability per heartbeat of not sending it (seq still advances)
	Relay      int           // >0: pack heartbeats into BATCH frames of up to this many entries
	Batch      int           // datagrams per sendmmsg
	Tick       time.Duration
	Duration   time.Duration // measured window after warm-up
	PID        int           // server process to measure (0: none)
	Extra      []int         // more processes whose CPU counts (e.g. redis-server)
	StatsURL   string        // comparator /stats or gateway metrics to read before/after
	Live       bool
	Out        string // JSON summary path ("-" = stdout)
	Label      string
	Seed       uint64
	DrainN     int
	DrainRound int
	SendBuffer int
}

func parseOptions(args []string) (*Options, error) {
	o := &Options{}
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	var targets, bind, extra string
	fs.StringVar(&o.Mode, "mode", "run", "run | cpu | drain")
	fs.StringVar(&targets, "targets", "127.0.0.1:7946", "comma-separated gateway UDP addresses; sessions are spread by user id")
	fs.IntVar(&o.Sessions, "sessions", 10000, "simulated sessions (up to 10,000,000)")
	fs.Uint64Var(&o.UserBase, "user-base", 1, "user id of session 0 (session i is user base+i); give each loadgen host its own range")
	var dev uint
	fs.UintVar(&dev, "device", 1, "device id of every session")
	fs.IntVar(&o.Workers, "workers", 2, "source sockets, one goroutine each")
	fs.StringVar(&bind, "bind", "", "source IP for the sockets (default: any of the target's family)")
	fs.StringVar(&o.Proto, "proto", "hl1", "hl1 | json (json: the naive comparator's heartbeat)")
	fs.StringVar(&o.Handshake, "handshake", "hello", "hello (real tokens, HELLO/WELCOME) | none (pre-shared per-slot keys, comparators only)")
	fs.StringVar(&o.KeysFile, "keys", "", "key file shared with the gateway (token.LoadKeyRing format); required with -handshake hello")
	var epoch uint
	fs.UintVar(&epoch, "epoch", 0, "epoch sealed into heartbeats with -handshake none")
	fs.DurationVar(&o.Interval, "interval", 0, "heartbeat interval (0: the interval WELCOME announces; 10s with -handshake none)")
	fs.Float64Var(&o.Jitter, "jitter", 0.1, "heartbeat jitter as a fraction of the interval (uniform +-)")
	fs.Float64Var(&o.HelloRate, "hello-rate", 20000, "HELLOs per second over all workers (retries included)")
	fs.IntVar(&o.HelloWin, "hello-window", 64, "outstanding HELLOs per worker (a WELCOME is matched by trying their keys)")
	fs.DurationVar(&o.HelloRetry, "hello-retry", time.Second, "first HELLO retry timeout (doubles per try)")
	fs.IntVar(&o.HelloTries, "hello-tries", 5, "HELLO tries before the session goes to the back of the queue")
	fs.DurationVar(&o.HelloWait, "hello-wait", 10*time.Minute, "how long warm-up may take before the run fails")
	fs.Float64Var(&o.Churn, "churn", 0, "logouts per second (BYE, then a fresh login with a new token)")
	fs.Float64Var(&o.StatusFlip, "status-change", 0, "probability per heartbeat of toggling active/idle")
	fs.Float64Var(&o.Loss, "loss", 0, "probability per heartbeat of dropping it before sending (packet loss injection)")
	fs.IntVar(&o.Relay, "relay", 0, "pack heartbeats into BATCH frames of up to N entries (relay mode; N <= 255)")
	fs.IntVar(&o.Batch, "batch", 64, "datagrams per sendmmsg")
	fs.DurationVar(&o.Tick, "tick", time.Millisecond, "worker tick (wheel resolution)")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "measured window after warm-up (run/cpu)")
	fs.IntVar(&o.PID, "pid", 0, "server pid: CPU (/proc/<pid>/stat, schedstat) and VmRSS are sampled around the window")
	fs.StringVar(&extra, "extra-pids", "", "comma-separated pids whose CPU is added (e.g. redis-server)")
	fs.StringVar(&o.StatsURL, "stats-url", "", "http://host:port/stats of a comparator or the gateway's JSON stats (read before/after)")
	fs.BoolVar(&o.Live, "live", true, "print a live status line to stderr every second")
	fs.StringVar(&o.Out, "out", "-", "JSON summary path (- = stdout)")
	fs.StringVar(&o.Label, "label", "", "free text copied into the summary")
	fs.Uint64Var(&o.Seed, "seed", 1, "random seed (jitter, loss, churn picks, token nonces)")
	fs.IntVar(&o.DrainN, "drain-n", 20000, "drain mode: datagrams pre-filled per round (must fit the server's SO_RCVBUF)")
	fs.IntVar(&o.DrainRound, "drain-rounds", 5, "drain mode: rounds")
	fs.IntVar(&o.SendBuffer, "sndbuf", 4<<20, "SO_SNDBUF per source socket")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	o.DeviceID = uint32(dev)
	o.Epoch = uint32(epoch)
	for _, t := range strings.Split(targets, ",") {
		ap, err := netip.ParseAddrPort(strings.TrimSpace(t))
		if err != nil {
			return nil, fmt.Errorf("-targets: %q is not ip:port (%v)", t, err)
		}
		o.Targets = append(o.Targets, ap)
	}
	if bind != "" {
		a, err := netip.ParseAddr(bind)
		if err != nil {
			return nil, fmt.Errorf("-bind: %v", err)
		}
		o.Bind = a
	} else if o.Targets[0].Addr().Is6() {
		o.Bind = netip.IPv6Unspecified()
	} else {
		o.Bind = netip.IPv4Unspecified()
	}
	for _, p := range strings.Split(extra, ",") {
		if p = strings.TrimSpace(p); p != "" {
			var pid int
			if _, err := fmt.Sscanf(p, "%d", &pid); err != nil {
				return nil, fmt.Errorf("-extra-pids: %q is not a pid", p)
			}
			o.Extra = append(o.Extra, pid)
		}
	}
	return o, o.validate()
}

func (o *Options) validate() error {
	switch {
	case o.Mode != "run" && o.Mode != "cpu" && o.Mode != "drain":
		return fmt.Errorf("-mode %q: want run, cpu or drain", o.Mode)
	case o.Sessions < 1 || o.Sessions > 20_000_000:
		return fmt.Errorf("-sessions %d: want 1..20000000", o.Sessions)
	case o.Workers < 1 || o.Workers > 256:
		return fmt.Errorf("-workers %d: want 1..256", o.Workers)
	case o.Proto != "hl1" && o.Proto != "json":
		return fmt.Errorf("-proto %q: want hl1 or json", o.Proto)
	case o.Handshake != "hello" && o.Handshake != "none":
		return fmt.Errorf("-handshake %q: want hello or none", o.Handshake)
	case o.Proto == "json" && o.Handshake != "none":
		return fmt.Errorf("-proto json has no handshake: add -handshake none")
	case o.Handshake == "hello" && o.KeysFile == "":
		return fmt.Errorf("-handshake hello needs -keys <file> (the gateway's key file) to issue real tokens")
	case o.Relay < 0 || o.Relay > 255:
		return fmt.Errorf("-relay %d: want 0..255 entries per BATCH", o.Relay)
	case o.Relay > 0 && o.Proto != "hl1":
		return fmt.Errorf("-relay needs -proto hl1")
	case o.Jitter < 0 || o.Jitter >= 1:
		return fmt.Errorf("-jitter %v: want a fraction in [0,1)", o.Jitter)
	case o.Loss < 0 || o.Loss > 1 || o.StatusFlip < 0 || o.StatusFlip > 1:
		return fmt.Errorf("-loss and -status-change are probabilities in [0,1]")
	case o.Mode == "cpu" && o.PID == 0:
		return fmt.Errorf("-mode cpu needs -pid <server pid>")
	case o.Mode == "drain" && o.PID == 0:
		return fmt.Errorf("-mode drain needs -pid <server pid> (it is stopped with SIGSTOP while the socket fills)")
	case o.Batch < 1 || o.Batch > 1024:
		return fmt.Errorf("-batch %d: want 1..1024", o.Batch)
	case o.Tick < 100*time.Microsecond:
		return fmt.Errorf("-tick %v: want >= 100us", o.Tick)
	case o.HelloWin < 1:
		return fmt.Errorf("-hello-window must be >= 1")
	}
	if o.Workers > o.Sessions {
		o.Workers = o.Sessions
	}
	if o.Handshake == "none" && o.Interval == 0 {
		o.Interval = 10 * time.Second
	}
	return nil
}

func usageError(err error) {
	fmt.Fprintln(os.Stderr, "loadgen:", err)
	os.Exit(2)
}
