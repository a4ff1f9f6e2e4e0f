package main

import (
	"fmt"
	"os"
	"syscall"
	"time"

	"heartline/benchmarks/procstat"
	"heartline/benchmarks/wire"
)

// drainMode measures how fast the server empties a pre-filled socket: establish the
// sessions, stop the workers, then per round SIGSTOP the server, queue DrainN valid
// heartbeats, SIGCONT it and poll /proc/net/udp until its receive queue is empty. The
// server's CPU time over the drain divided by the datagrams delivered is the figure.
func drainMode(o *Options) (*Summary, error) {
	port, local := o.localPort()
	if !local {
		return nil, fmt.Errorf("drain mode reads the server's queue in /proc/net/udp: the target must be one local address")
	}
	sum := &Summary{Label: o.Label, Mode: o.Mode, Proto: o.Proto, Handshake: o.Handshake, Sessions: o.Sessions, Workers: o.Workers, Relay: o.Relay, Started: time.Now().UTC()}
	f, err := newFleet(o)
	if err != nil {
		return nil, err
	}
	defer f.close()
	proc, err := os.FindProcess(o.PID)
	if err != nil {
		return nil, err
	}
	f.run()
	warm, err := f.warmup()
	sum.WarmupSeconds = warm.Seconds()
	f.halt()
	if err != nil {
		return sum, err
	}
	sum.Online = online(f.ws)
	next := make([]int32, len(f.ws))
	for r := 0; r < o.DrainRound; r++ {
		d, err := drainRound(o, f, proc, port, next)
		if err != nil {
			_ = proc.Signal(syscall.SIGCONT)
			return sum, err
		}
		sum.Drain = append(sum.Drain, d)
		if o.Live {
			fmt.Fprintf(os.Stderr, "drain round %d: %d datagrams, %.0f ns wall, %.0f ns CPU per datagram, %d socket drops\n", r+1, d.Datagrams, d.WallNSPerDgram, d.CPUNSPerDgram, d.SocketDrops)
		}
	}
	sum.Totals = totals(f.ws)
	return sum, nil
}

func drainRound(o *Options, f *fleet, proc *os.Process, port uint16, next []int32) (Drain, error) {
	var d Drain
	q0, err := procstat.ReadUDPQueue(port)
	if err != nil {
		return d, err
	}
	if q0.Sockets == 0 {
		return d, fmt.Errorf("no UDP socket bound to port %d", port)
	}
	var st0 map[string]uint64
	if o.StatsURL != "" {
		st0, _ = wire.FetchStats(o.StatsURL)
	}
	if err := proc.Signal(syscall.SIGSTOP); err != nil {
		return d, fmt.Errorf("SIGSTOP %d: %w", o.PID, err)
	}
	time.Sleep(20 * time.Millisecond)
	tot0 := totals(f.ws)
	now := time.Now()
	for _, w := range f.ws {
		w.nowMS = w.ms(now)
	}
	// Round-robin over workers (sockets) and their sessions until DrainN datagrams are queued.
	for k := 0; ; k++ {
		w := f.ws[k%len(f.ws)]
		if int(totals(f.ws).Datagrams-tot0.Datagrams) >= o.DrainN && k%len(f.ws) == 0 {
			break
		}
		i := next[w.id]
		next[w.id] = (i + 1) % int32(w.s.len())
		if w.s.state[i] != stOnline {
			continue
		}
		w.beat(i, false)
	}
	for _, w := range f.ws {
		w.flushBatch()
		w.flush()
	}
	tot1 := totals(f.ws)
	d.Datagrams = int(tot1.Datagrams - tot0.Datagrams)
	d.Heartbeats = int(tot1.Heartbeats - tot0.Heartbeats)
	time.Sleep(20 * time.Millisecond) // loopback delivery is synchronous; this is margin
	q1, err := procstat.ReadUDPQueue(port)
	if err != nil {
		return d, err
	}
	d.SocketDrops = q1.Drops - q0.Drops
	cpu0, err := cpuOf(append([]int{o.PID}, o.Extra...))
	if err != nil {
		return d, err
	}
	t0 := time.Now()
	if err := proc.Signal(syscall.SIGCONT); err != nil {
		return d, err
	}
	for {
		q, err := procstat.ReadUDPQueue(port)
		if err != nil {
			return d, err
		}
		if q.RxBytes == 0 {
			break
		}
		if time.Since(t0) > 30*time.Second {
			return d, fmt.Errorf("server did not drain its socket within 30s (%d bytes left)", q.RxBytes)
		}
		time.Sleep(100 * time.Microsecond)
	}
	d.WallNS = time.Since(t0).Nanoseconds()
	time.Sleep(5 * time.Millisecond) // the last batch is being processed
	cpu1, err := cpuOf(append([]int{o.PID}, o.Extra...))
	if err != nil {
		return d, err
	}
	d.CPUNS = cpu1 - cpu0
	delivered := float64(d.Datagrams) - float64(d.SocketDrops)
	if delivered <= 0 {
		return d, fmt.Errorf("every datagram was dropped by the kernel: raise the server's SO_RCVBUF or lower -drain-n")
	}
	d.WallNSPerDgram = float64(d.WallNS) / delivered
	d.CPUNSPerDgram = float64(d.CPUNS) / delivered
	d.CPUNSPerBeat = float64(d.CPUNS) / (delivered * float64(d.Heartbeats) / float64(d.Datagrams))
	if o.StatsURL != "" && st0 != nil {
		if st1, err := wire.FetchStats(o.StatsURL); err == nil {
			if m1, ok := st1["go_memstats_mallocs"]; ok && d.Heartbeats > 0 {
				d.HaveAllocs = true
				d.AllocsPerBeat = float64(m1-st0["go_memstats_mallocs"]) / float64(d.Heartbeats)
				d.GCCycles = st1["go_gc_duration_seconds_count"] - st0["go_gc_duration_seconds_count"]
			}
			if d.Accepted = st1["heartbeats"] - st0["heartbeats"]; d.Accepted == 0 {
				return d, fmt.Errorf("the server accepted none of %d heartbeats (stats %v): the figure would time rejections", d.Heartbeats, st1)
			}
		}
	}
	time.Sleep(50 * time.Millisecond)
	return d, nil
}
