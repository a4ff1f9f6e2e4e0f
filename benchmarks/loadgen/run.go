package main

import (
	"fmt"
	"net/netip"
	"os"
	"sync"
	"time"

	"heartline/benchmarks/mmsg"
	"heartline/benchmarks/procstat"
	"heartline/benchmarks/wire"
	"heartline/protocol/token"
)

// fleet is the set of workers of one run.
type fleet struct {
	o     *Options
	ws    []*worker
	conns []*mmsg.Conn
	stop  chan struct{}
	wg    sync.WaitGroup
	start time.Time
}

func newFleet(o *Options) (*fleet, error) {
	var keys *token.KeyRing
	if o.Handshake == "hello" {
		k, err := token.LoadKeyRing(o.KeysFile)
		if err != nil {
			return nil, err
		}
		if _, ok := k.Current(); !ok {
			return nil, fmt.Errorf("key file %s has no current key: mark one line `current`", o.KeysFile)
		}
		keys = k
	}
	targets := make([]mmsg.Sockaddr, len(o.Targets))
	for i, t := range o.Targets {
		targets[i] = mmsg.SockaddrOf(t)
	}
	f := &fleet{o: o, stop: make(chan struct{}), start: time.Now()}
	for w := 0; w < o.Workers; w++ {
		c, err := mmsg.Listen(mmsg.Options{Bind: netip.AddrPortFrom(o.Bind, 0), Batch: o.Batch, NonBlock: true, SendBuffer: o.SendBuffer, RecvBuffer: 4 << 20})
		if err != nil {
			f.close()
			return nil, err
		}
		f.conns = append(f.conns, c)
		f.ws = append(f.ws, newWorker(w, o.Workers, o, mmsgTransport{c}, keys, targets, f.start))
	}
	return f, nil
}

func (f *fleet) run() {
	for _, w := range f.ws {
		f.wg.Add(1)
		go func() { defer f.wg.Done(); w.run(f.stop) }()
	}
}

func (f *fleet) halt() {
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
	f.wg.Wait()
}

func (f *fleet) close() {
	for _, c := range f.conns {
		c.Close()
	}
}

// warmup waits until every session is online (or HelloWait passes).
func (f *fleet) warmup() (time.Duration, error) {
	t0 := time.Now()
	for online(f.ws) < int64(f.o.Sessions) {
		if time.Since(t0) > f.o.HelloWait {
			return time.Since(t0), fmt.Errorf("warm-up: %d of %d sessions online after %v (is the gateway up at %v, with the same key file, and not rate limiting HELLOs?)", online(f.ws), f.o.Sessions, f.o.HelloWait, f.o.Targets)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, w := range f.ws {
		w.churnOn.Store(true)
	}
	return time.Since(t0), nil
}

func cpuOf(pids []int) (int64, error) {
	var sum int64
	for _, p := range pids {
		v, err := procstat.CPUNanos(p)
		if err != nil {
			return 0, err
		}
		sum += v
	}
	return sum, nil
}

// localPort returns the port whose kernel queue we can read (targets[0], if local).
func (o *Options) localPort() (uint16, bool) {
	a := o.Targets[0].Addr()
	return o.Targets[0].Port(), len(o.Targets) == 1 && (a.IsLoopback() || a.IsUnspecified())
}

func runMode(o *Options) (*Summary, error) {
	sum := &Summary{Label: o.Label, Mode: o.Mode, Proto: o.Proto, Handshake: o.Handshake, Sessions: o.Sessions, Workers: o.Workers, Relay: o.Relay, Started: time.Now().UTC()}
	var win Window
	if o.PID != 0 {
		win.RSSBefore, _ = procstat.RSSBytes(o.PID)
	}
	f, err := newFleet(o)
	if err != nil {
		return nil, err
	}
	defer f.close()
	var lv *live
	liveStop := make(chan struct{})
	if o.Live {
		lv = &live{out: os.Stderr, ws: f.ws, start: f.start, lastTime: f.start}
		go lv.run(liveStop)
	}
	f.run()
	warm, err := f.warmup()
	sum.WarmupSeconds = warm.Seconds()
	if err != nil {
		f.halt()
		close(liveStop)
		return sum, err
	}
	time.Sleep(time.Second) // let the first-interval spread settle
	pids := append([]int{}, o.Extra...)
	if o.PID != 0 {
		pids = append(pids, o.PID)
	}
	port, local := o.localPort()
	var q0, q1 procstat.UDPQueue
	if local {
		q0, _ = procstat.ReadUDPQueue(port)
	}
	if o.StatsURL != "" {
		win.StatsBefore, _ = wire.FetchStats(o.StatsURL)
	}
	cpu0, _ := cpuOf(pids)
	t0, tot0 := time.Now(), totals(f.ws)
	time.Sleep(o.Duration)
	cpu1, _ := cpuOf(pids)
	t1, tot1 := time.Now(), totals(f.ws)
	if local {
		q1, _ = procstat.ReadUDPQueue(port)
	}
	time.Sleep(50 * time.Millisecond)
	if o.StatsURL != "" {
		win.StatsAfter, _ = wire.FetchStats(o.StatsURL)
	}
	if o.PID != 0 {
		win.RSSAfter, _ = procstat.RSSBytes(o.PID)
	}
	sum.Online = online(f.ws)
	f.halt()
	close(liveStop)
	if sum.Online > 0 && win.RSSAfter > 0 {
		win.RSSPerSession = float64(win.RSSAfter-win.RSSBefore) / float64(sum.Online)
	}
	win.Seconds = t1.Sub(t0).Seconds()
	win.Datagrams = tot1.Datagrams - tot0.Datagrams
	win.Heartbeats = tot1.Heartbeats - tot0.Heartbeats
	win.DatagramsPerS = float64(win.Datagrams) / win.Seconds
	win.SocketDrops = q1.Drops - q0.Drops
	win.Delivered = win.Datagrams - min(win.Datagrams, win.SocketDrops)
	if len(pids) > 0 && cpu1 > cpu0 && win.Delivered > 0 {
		win.ServerCPUNS = cpu1 - cpu0
		win.CPUNSPerDgram = float64(win.ServerCPUNS) / float64(win.Delivered)
		beats := float64(win.Delivered)
		if win.Datagrams > 0 {
			beats = float64(win.Heartbeats) * float64(win.Delivered) / float64(win.Datagrams)
		}
		win.CPUNSPerBeat = float64(win.ServerCPUNS) / beats
	}
	if f.ws[0].interval > 0 {
		sum.Interval = (time.Duration(f.ws[0].interval) * time.Millisecond).String()
	}
	sum.Window = &win
	sum.Totals = totals(f.ws)
	for _, w := range f.ws {
		if w.sendErr != nil {
			sum.Errors = append(sum.Errors, w.sendErr.Error())
			break
		}
	}
	return sum, nil
}
