package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"heartline/agent/watcher"
	"heartline/protocol/client"
	"heartline/protocol/token"
)

// prober plays a handful of the site's demo members. Each logs in once at the site's
// POST /api/session, as an app would, then goes online (HELLO) and offline (BYE) with those
// credentials over and over. It measures how long an ONLINE takes from the app's HELLO to a
// watcher's event (the whole path: gateway, feed, agent, Consul transaction, change record,
// blocking query), and its members' dots flip on the site's members page.
type prober struct {
	site string
	w    *watcher.Watcher
	base uint64
	n    int

	mu       sync.Mutex
	pending  map[uint64]time.Time // user -> HELLO sent, waiting for ONLINE
	byes     map[uint64]bool      // user -> BYE sent, waiting for OFFLINE
	online   map[uint64]bool
	hist     *hdrhistogram.Histogram // µs
	offlines int
	loginErr error
}

func newProber(site string, w *watcher.Watcher, base uint64, n int) *prober {
	return &prober{
		site: site, w: w, base: base, n: n,
		pending: map[uint64]time.Time{}, byes: map[uint64]bool{}, online: map[uint64]bool{},
		hist: hdrhistogram.New(1, 120_000_000, 3),
	}
}

func (p *prober) run(ctx context.Context) {
	sub := p.w.Subscribe(4096, func(u uint64) bool { return u >= p.base && u < p.base+uint64(p.n) })
	go func() {
		for ev := range sub.C {
			p.observe(ev)
		}
	}()
	for i := 0; i < p.n; i++ {
		go p.member(ctx, p.base+uint64(i))
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
	var cred client.Credentials
	var gateways []string
	for {
		var err error
		if cred, gateways, err = login(p.site, user); err == nil {
			break
		}
		p.mu.Lock()
		p.loginErr = err
		p.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		sleep(ctx, 2*time.Second)
	}
	for ctx.Err() == nil {
		c, err := client.New(cred, client.Options{Gateways: gateways, Active: true})
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

// login is what an app does at sign-in: POST /api/session with the member's e-mail and
// password; the answer carries the token, the session key and the healthy gateways.
func login(site string, user uint64) (client.Credentials, []string, error) {
	var cred client.Credentials
	body, _ := json.Marshal(map[string]any{
		"email": fmt.Sprintf("demo%d@heartline.invalid", user), "password": "heartline-demo-1", "device_id": 1,
	})
	resp, err := scrapeClient.Post(site+"/api/session", "application/json", bytes.NewReader(body))
	if err != nil {
		return cred, nil, err
	}
	defer resp.Body.Close()
	var r struct {
		Token      string `json:"token"`
		SessionKey string `json:"session_key"`
		Gateways   []struct {
			UDP string `json:"udp"`
		} `json:"gateways"`
		Error *struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return cred, nil, fmt.Errorf("POST /api/session: %s: %v", resp.Status, err)
	}
	if r.Error != nil {
		return cred, nil, fmt.Errorf("POST /api/session: %s: %s", resp.Status, r.Error.Message)
	}
	tok, err := token.ParseText(r.Token)
	if err != nil {
		return cred, nil, err
	}
	key, err := base64.RawURLEncoding.DecodeString(r.SessionKey)
	if err != nil || len(key) != len(cred.Key) {
		return cred, nil, fmt.Errorf("POST /api/session: bad session key")
	}
	copy(cred.Token[:], tok.Append(nil))
	copy(cred.Key[:], key)
	var gws []string
	for _, g := range r.Gateways {
		gws = append(gws, g.UDP)
	}
	if len(gws) == 0 {
		return cred, nil, fmt.Errorf("POST /api/session listed no healthy gateway yet")
	}
	return cred, gws, nil
}

func (p *prober) lastLoginError() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.loginErr
}
