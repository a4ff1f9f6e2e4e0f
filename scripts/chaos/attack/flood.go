package attack

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"heartline/benchmarks/mmsg"
)

// FloodOptions configure a UDP flood.
type FloodOptions struct {
	Target   netip.AddrPort
	Sources  []string // local addresses to send from (one socket each): many source addresses
	Rate     int      // datagrams per second, all kinds together
	Duration time.Duration
	Kinds    []Kind    // mixed round-robin; default all
	Material *Material // Prepare it first for high rates
}

// FloodResult counts what was sent, by kind.
type FloodResult struct {
	Sent       map[Kind]uint64
	Total      uint64
	SendErrors uint64
	Elapsed    time.Duration
}

// Flood sends the mix at Rate for Duration (or until ctx ends) in sendmmsg batches.
func Flood(ctx context.Context, o FloodOptions) (FloodResult, error) {
	res := FloodResult{Sent: map[Kind]uint64{}}
	if len(o.Kinds) == 0 {
		o.Kinds = Kinds
	}
	if len(o.Sources) == 0 || o.Rate <= 0 || o.Material == nil {
		return res, fmt.Errorf("attack: need Sources, Rate > 0 and Material")
	}
	var conns []*mmsg.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for _, s := range o.Sources {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return res, err
		}
		c, err := mmsg.Listen(mmsg.Options{Bind: netip.AddrPortFrom(a, 0), Batch: 64, NonBlock: true, SendBuffer: 4 << 20})
		if err != nil {
			return res, fmt.Errorf("attack: socket on %s: %w", s, err)
		}
		conns = append(conns, c)
	}
	// Several senders, each with its share of the sockets and of the rate: one goroutine
	// cannot build and send 50k+ datagrams/s on a small machine.
	senders := 4
	if senders > len(conns) {
		senders = len(conns)
	}
	start := time.Now()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := 0; g < senders; g++ {
		var mine []*mmsg.Conn
		for i := g; i < len(conns); i += senders {
			mine = append(mine, conns[i])
		}
		rate := o.Rate / senders
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			part := send(ctx, o, mine, rate, start, uint64(g))
			mu.Lock()
			for k, v := range part.Sent {
				res.Sent[k] += v
			}
			res.Total += part.Total
			res.SendErrors += part.SendErrors
			mu.Unlock()
		}(g)
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	return res, nil
}

func send(ctx context.Context, o FloodOptions, conns []*mmsg.Conn, rate int, start time.Time, seed uint64) FloodResult {
	res := FloodResult{Sent: map[Kind]uint64{}}
	rng := rand.New(rand.NewPCG(seed, 2))
	const batch = 64
	bufs := make([][]byte, batch)
	for i := range bufs {
		bufs[i] = make([]byte, 0, 5200)
	}
	frames := make([][]byte, batch)
	kinds := make([]Kind, batch)
	to := make([]mmsg.Sockaddr, batch)
	for i := range to {
		to[i] = mmsg.SockaddrOf(o.Target)
	}
	var sent uint64
	next := int(seed)
	for ci := 0; ; ci++ {
		el := time.Since(start)
		if el >= o.Duration || ctx.Err() != nil {
			break
		}
		due := uint64(el.Seconds()*float64(rate)) + 1
		if sent >= due {
			time.Sleep(time.Millisecond)
			continue
		}
		n := int(due - sent)
		if n > batch {
			n = batch
		}
		for i := 0; i < n; i++ {
			k := o.Kinds[next%len(o.Kinds)]
			next++
			frames[i], kinds[i] = o.Material.Pick(bufs[i][:0], k, rng), k
		}
		c := conns[ci%len(conns)]
		m, err := c.Send(frames[:n], to[:n])
		if err != nil && !errors.Is(err, mmsg.ErrWouldBlock) {
			res.SendErrors++
		}
		if m < n {
			res.SendErrors += uint64(n - m)
		}
		for i := 0; i < m; i++ {
			res.Sent[kinds[i]]++
		}
		sent += uint64(n)
		res.Total += uint64(m)
	}
	return res
}
