package main

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"heartline/agent/watcher"
	"heartline/protocol/client"
	"heartline/protocol/token"
)

// probeBase is where probe member ids start, far from the loadgen's and the site's members.
const probeBase = 900_000_000

// prober plays a handful of members who log in, stay a while and log out, to measure how
// long an ONLINE takes from the app's HELLO to a watcher's event (the whole path: gateway,
// feed, agent, Consul transaction, change record, blocking query).
type prober struct {
	keys     *token.KeyRing
	gateways []string
	w        *watcher.Watcher
	n        int

	mu       sync.Mutex
	pending  map[uint64]time.Time // user -> HELLO sent, waiting for ONLINE
	byes     map[uint64]bool      // user -> BYE sent, waiting for OFFLINE
	online   map[uint64]bool
	hist     *hdrhistogram.Histogram // µs
	offlines int
}

func newProber(keys *token.KeyRing, gateways []string, w *watcher.Watcher, n int) *prober {
	return &prober{
		keys: keys, gateways: gateways, w: w, n: n,
		pending: map[uint64]time.Time{}, byes: map[uint64]bool{}, online: map[uint64]bool{},
		hist: hdrhistogram.New(1, 120_000_000, 3),
	}
}

func (p *prober) run(ctx context.Context) {
	sub := p.w.Subscribe(4096, func(u uint64) bool { return u >= probeBase && u < probeBase+uint64(p.n) })
	go func() {
		for ev := range sub.C {
			p.observe(ev)
		}
	}()
	for i := 0; i < p.n; i++ {
		go p.member(ctx, probeBase+uint64(i))
	}
	<-ctx.Done()
	p.w.Unsubscribe(sub)
}

func (p *prober) observe(ev watcher.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch ev.Type {
	case watcher.EventOnline:
		if t0, ok := p.pending[ev.User]; ok {
			p.hist.RecordValue(time.Since(t0).Microseconds()) //nolint:errcheck
			delete(p.pending, ev.User)
		}
	case watcher.EventOffline:
		if p.byes[ev.User] && ev.At > 0 {
			p.offlines++
			delete(p.byes, ev.User)
		}
	}
}

// member logs one probe member in and out forever, with random stays.
func (p *prober) member(ctx context.Context, user uint64) {
	rng := rand.New(rand.NewPCG(user, 7))
	// Spread the first logins over a few seconds.
	sleep(ctx, time.Duration(rng.Int64N(int64(3*time.Second))))
	for ctx.Err() == nil {
		tok, key, err := p.keys.Issue(token.Claims{UserID: user, DeviceID: 1, Expiry: time.Now().Add(time.Hour)})
		if err != nil {
			return
		}
		var cred client.Credentials
		copy(cred.Token[:], tok.Append(nil))
		cred.Key = key
		c, err := client.New(cred, client.Options{Gateways: p.gateways, Active: true})
		if err != nil {
			return
		}
		p.mu.Lock()
		p.pending[user] = time.Now()
		p.mu.Unlock()
		if err := c.Connect(ctx); err != nil {
			c.Close()
			sleep(ctx, time.Second)
			continue
		}
		p.setOnline(user, true)
		runCtx, cancel := context.WithCancel(ctx)
		go c.Run(runCtx) //nolint:errcheck
		sleep(ctx, 8*time.Second+time.Duration(rng.Int64N(int64(10*time.Second))))
		cancel()
		p.mu.Lock()
		p.byes[user] = true
		p.mu.Unlock()
		c.Bye() //nolint:errcheck
		p.setOnline(user, false)
		c.Close()
		sleep(ctx, 2*time.Second+time.Duration(rng.Int64N(int64(3*time.Second))))
	}
}

func (p *prober) setOnline(user uint64, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on {
		p.online[user] = true
	} else {
		delete(p.online, user)
	}
}

// onlineNow lists the probes that have been online for at least two seconds, long enough
// that every watcher should show them.
func (p *prober) onlineNow() []uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []uint64
	for u := range p.online {
		if _, waiting := p.pending[u]; !waiting {
			out = append(out, u)
		}
	}
	return out
}

func (p *prober) latencies() *hdrhistogram.Histogram {
	p.mu.Lock()
	defer p.mu.Unlock()
	return hdrhistogram.Import(p.hist.Export())
}

func (p *prober) offlineSeen() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.offlines
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
