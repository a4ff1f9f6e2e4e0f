package main

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"heartline/protocol/client"
	"heartline/protocol/hl1"
	"heartline/protocol/token"
	"heartline/scripts/chaos/attack"
	"heartline/scripts/chaos/bed"
)

// attackResult is the hostile-input phase, measured on gateway gw1.
type attackResult struct {
	Window          time.Duration
	LegitPPS        float64 // legit heartbeats/s sent to gw1
	AttackPPS       int     // requested attack rate (10x legit)
	AttackSentPPS   float64
	GoodputBaseline float64 // accepted / sent legit heartbeats, no attack
	GoodputAttack   float64 // the same under the UDP flood
	GoodputTCP      float64 // the same under the TCP abuse
	Sent            map[string]uint64
	SentTotal       uint64
	SendErrors      uint64
	Drops           map[string]float64 // frames_dropped_total delta by reason during the flood
	DropsTotal      float64
	BaselineDrops   float64 // drops in the same-length window without attack (legit noise)
	KernelDrops     uint64  // UDP RcvbufErrors in gw1's namespace during the flood
	Unaccounted     float64 // attack datagrams neither counted by the gateway nor by the kernel
	RSSBefore       uint64
	RSSMax          uint64
	RSSAfter        uint64
	TCP             attack.TCPResult
	TCPConnsMax     float64
	TCPCloses       map[string]float64
	TCPClientHello  time.Duration // legit TCP client's HELLO->WELCOME during the abuse
	TCPClientOnline bool          // ...and the watcher showed it online
	TCPClientErr    string
	Err             string
}

func (r *run) hostileScenario() scenario {
	return scenario{
		Name:  "hostile-input",
		Fault: "UDP flood at 10x the legit packet rate to gw1 from 200 source addresses (forged MACs, replays, random slots, truncated, oversize, garbage, HELLOs with random/expired/wrong-key tokens and bad tags), then TCP slowloris, garbage and oversize-length connections",
		Expect: "legit goodput under attack >= 95% of the no-attack goodput; every attack datagram counted (gateway drop counters + kernel receive-buffer drops, within 1%); " +
			"gateway RSS grows < 64 MiB; slowloris connections closed after -tcp-auth-timeout (5 s: they never authenticate); a legit TCP client connects during the abuse; every check clean (no excuse window)",
		Run:    r.hostile,
		Settle: 5 * time.Second,
	}
}

func (r *run) rssSampler(ctx context.Context, p *bed.Proc, max *uint64, mu *sync.Mutex) {
	for ctx.Err() == nil {
		v := p.RSS()
		mu.Lock()
		if v > *max {
			*max = v
		}
		mu.Unlock()
		sleep(ctx, 250*time.Millisecond)
	}
}

func (r *run) hostile(ctx context.Context, s *scenarioRun) error {
	a := &attackResult{Window: r.cfg.attackFor, Sent: map[string]uint64{}}
	r.attack = a
	gp := r.bed.Gateways[0]
	url := r.bed.MetricsURL(0)
	sentNow := func() uint64 { return r.drv.Stats.HeartbeatsSent[0].Load() }
	// scrapeAt scrapes gw1 and returns the legit heartbeats sent at the middle of the scrape,
	// so that goodput ratios are not skewed by how long a scrape takes under load.
	scrapeAt := func() (metrics, uint64, error) {
		a := sentNow()
		m, err := scrape(url)
		return m, (a + sentNow()) / 2, err
	}
	// 1. Baseline window.
	m0, s0, err := scrapeAt()
	if err != nil {
		return err
	}
	sleep(ctx, a.Window)
	m1, s1, err := scrapeAt()
	if err != nil {
		return err
	}
	a.LegitPPS = float64(s1-s0) / a.Window.Seconds()
	a.GoodputBaseline = (m1.get(mp+"heartbeats_total") - m0.get(mp+"heartbeats_total")) / float64(s1-s0)
	a.BaselineDrops = m1.sumPrefix(mp+"frames_dropped_total") - m0.sumPrefix(mp+"frames_dropped_total")
	s.note("baseline: legit %.0f heartbeats/s to gw1, goodput %.4f", a.LegitPPS, a.GoodputBaseline)

	// 2. UDP flood at 10x.
	var caps [][hl1.HeartbeatSize]byte
	for _, c := range r.drv.Captures(1024) {
		if c.Gateway == 0 {
			caps = append(caps, c.Frame)
		}
	}
	mat, err := attack.NewMaterial(r.keys, caps)
	if err != nil {
		return err
	}
	mat.Prepare(512, r.rng)
	a.AttackPPS = int(10 * a.LegitPPS)
	if a.AttackPPS < 1000 {
		a.AttackPPS = 1000
	}
	var rssMu sync.Mutex
	a.RSSBefore = gp.RSS()
	a.RSSMax = a.RSSBefore
	actx, acancel := context.WithCancel(ctx)
	go r.rssSampler(actx, gp, &a.RSSMax, &rssMu)
	k0, _ := bed.UDPRcvbufErrors(r.bed.GWHosts[0])
	m2, s2, err := scrapeAt()
	if err != nil {
		acancel()
		return err
	}
	s.note("flood: %d datagrams/s for %v", a.AttackPPS, a.Window)
	// The invariant checker costs a core-second per check on this bed; pause it for the flood
	// window (the flood is judged by goodput and drop counters; checks resume right after).
	r.paused.Store(true)
	fr, ferr := attack.Flood(ctx, attack.FloodOptions{Target: netip.MustParseAddrPort(r.bed.GatewayUDPAddr(0)),
		Sources: r.attackIPs, Rate: a.AttackPPS, Duration: a.Window, Material: &mat})
	r.paused.Store(false)
	time.Sleep(500 * time.Millisecond) // let the gateway drain its socket
	m3, s3, err := scrapeAt()
	k1, _ := bed.UDPRcvbufErrors(r.bed.GWHosts[0])
	if ferr != nil {
		acancel()
		return ferr
	}
	if err != nil {
		acancel()
		return fmt.Errorf("gw1 /metrics after the flood: %w", err)
	}
	for k, v := range fr.Sent {
		a.Sent[k.String()] = v
	}
	a.SentTotal, a.SendErrors = fr.Total, fr.SendErrors
	a.AttackSentPPS = float64(fr.Total) / fr.Elapsed.Seconds()
	a.GoodputAttack = (m3.get(mp+"heartbeats_total") - m2.get(mp+"heartbeats_total")) / float64(s3-s2)
	a.Drops = map[string]float64{}
	for k, v := range delta(m2.byLabel(mp+"frames_dropped_total"), m3.byLabel(mp+"frames_dropped_total")) {
		a.Drops[strings.Trim(k, "{}")] = v
		a.DropsTotal += v
	}
	a.KernelDrops = k1 - k0
	// Legit noise (e.g. heartbeats to a slot that moved) is estimated from the baseline window.
	noise := a.BaselineDrops * fr.Elapsed.Seconds() / a.Window.Seconds()
	a.Unaccounted = float64(a.SentTotal) - (a.DropsTotal - noise) - float64(a.KernelDrops)
	s.note("flood: sent %d (%.0f/s), gateway drops %.0f, kernel drops %d, unaccounted %.0f, goodput %.4f (baseline %.4f)",
		a.SentTotal, a.AttackSentPPS, a.DropsTotal, a.KernelDrops, a.Unaccounted, a.GoodputAttack, a.GoodputBaseline)

	// 3. TCP abuse, with a legit TCP client connecting in the middle of it.
	tcpFor := r.bed.Opts.TCPIdle + 10*time.Second
	m4, s4, _ := scrapeAt()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.TCP = attack.TCPAbuse(ctx, attack.TCPOptions{Target: r.bed.GatewayTCPAddr(0), Slowloris: 400, Drip: 2 * time.Second,
			Garbage: 50, Oversize: 50, Duration: tcpFor})
	}()
	go func() {
		for actx.Err() == nil {
			if m, err := scrape(url); err == nil {
				rssMu.Lock()
				if v := m.get(mp + "tcp_connections"); v > a.TCPConnsMax {
					a.TCPConnsMax = v
				}
				rssMu.Unlock()
			}
			sleep(actx, time.Second)
		}
	}()
	sleep(ctx, 3*time.Second)
	a.TCPClientHello, a.TCPClientOnline, a.TCPClientErr = r.tcpClient(ctx, 8*time.Second)
	wg.Wait()
	m5, s5, _ := scrapeAt()
	acancel()
	a.GoodputTCP = (m5.get(mp+"heartbeats_total") - m4.get(mp+"heartbeats_total")) / float64(s5-s4)
	a.TCPCloses = map[string]float64{}
	for k, v := range delta(m4.byLabel(mp+"tcp_closes_total"), m5.byLabel(mp+"tcp_closes_total")) {
		a.TCPCloses[strings.Trim(k, "{}")] = v
	}
	sleep(ctx, 2*time.Second)
	a.RSSAfter = gp.RSS()
	s.note("tcp: opened %d, closed by gateway %d (longest slowloris %v), max open %.0f, closes %v; legit TCP client HELLO %v online=%v %s; UDP goodput %.4f",
		a.TCP.Opened, a.TCP.ClosedByPeer, a.TCP.MaxLifetime.Round(100*time.Millisecond), a.TCPConnsMax, a.TCPCloses,
		a.TCPClientHello.Round(time.Microsecond), a.TCPClientOnline, a.TCPClientErr, a.GoodputTCP)
	s.note("gw1 RSS before %.1f MiB, max %.1f MiB, after %.1f MiB", mib(a.RSSBefore), mib(a.RSSMax), mib(a.RSSAfter))
	for _, v := range a.verdicts() {
		s.note("%s", v)
	}
	return nil
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// verdicts lists failed expectations (each counts as one violation in the report).
func (a *attackResult) verdicts() []string {
	var out []string
	if a.GoodputBaseline > 0 && a.GoodputAttack < 0.95*a.GoodputBaseline {
		out = append(out, fmt.Sprintf("VIOLATION: goodput under flood %.4f < 95%% of baseline %.4f", a.GoodputAttack, a.GoodputBaseline))
	}
	if a.SentTotal > 0 && abs(a.Unaccounted) > 0.01*float64(a.SentTotal) {
		out = append(out, fmt.Sprintf("VIOLATION: %.0f of %d attack datagrams not counted anywhere", a.Unaccounted, a.SentTotal))
	}
	if a.RSSMax > a.RSSBefore+64<<20 {
		out = append(out, fmt.Sprintf("VIOLATION: RSS grew %.1f MiB under attack", mib(a.RSSMax-a.RSSBefore)))
	}
	if !a.TCPClientOnline {
		out = append(out, "VIOLATION: legit TCP client not online during TCP abuse: "+a.TCPClientErr)
	}
	if a.TCP.Opened > 0 && a.TCP.ClosedByPeer == 0 {
		out = append(out, "VIOLATION: the gateway closed no abusive TCP connection")
	}
	return out
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// tcpClient logs a fresh member in over TCP with the reference client and checks the
// watcher shows it online.
func (r *run) tcpClient(ctx context.Context, hold time.Duration) (time.Duration, bool, string) {
	t, sk, err := r.keys.Issue(token.Claims{UserID: 9_000_001, DeviceID: 7, Expiry: time.Now().Add(time.Hour)})
	if err != nil {
		return 0, false, err.Error()
	}
	c, err := client.New(client.Credentials{Token: t.Bytes(), Key: sk}, client.Options{Gateways: []string{r.bed.GatewayTCPAddr(0)}, Network: "tcp", Active: true})
	if err != nil {
		return 0, false, err.Error()
	}
	defer c.Close()
	cctx, cancel := context.WithTimeout(ctx, hold+10*time.Second)
	defer cancel()
	start := time.Now()
	if err := c.Connect(cctx); err != nil {
		return 0, false, "connect: " + err.Error()
	}
	hello := time.Since(start)
	go func() { _ = c.Run(cctx) }()
	online := waitFor(ctx, hold, func() bool {
		p := r.chk.Watcher().Lookup(9_000_001)
		return p.Online
	}) >= 0
	_ = c.Bye()
	return hello, online, ""
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
