package attack

import (
	"context"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// TCPOptions configure TCP abuse of the gateway's TCP port (heartbeat fallback and
// subscriptions).
type TCPOptions struct {
	Target    string // host:port
	Slowloris int    // connections that announce a 66-byte frame, then send one byte of it every Drip
	Drip      time.Duration
	Garbage   int // connections that write random bytes as fast as the gateway reads them
	Oversize  int // connections announcing a 65535-byte frame and sending part of it
	Duration  time.Duration
}

// TCPResult counts what happened from the attacker's side.
type TCPResult struct {
	Opened       int64 // connections established
	DialErrors   int64
	ClosedByPeer int64 // connections the gateway closed (read EOF/reset) while attacking
	BytesSent    int64
	MaxLifetime  time.Duration // longest-lived slowloris connection before the gateway closed it
}

// TCPAbuse runs the three abusers until Duration ends, then closes everything.
func TCPAbuse(ctx context.Context, o TCPOptions) TCPResult {
	var r TCPResult
	var opened, dialErr, closed, bytes atomic.Int64
	var maxLife atomic.Int64
	ctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	var wg sync.WaitGroup
	run := func(n int, f func(c net.Conn) error) {
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				d := net.Dialer{Timeout: 3 * time.Second}
				c, err := d.DialContext(ctx, "tcp", o.Target)
				if err != nil {
					dialErr.Add(1)
					return
				}
				opened.Add(1)
				born := time.Now()
				go func() { <-ctx.Done(); c.Close() }()
				if err := f(c); err != nil && ctx.Err() == nil {
					closed.Add(1)
					life := int64(time.Since(born))
					for {
						old := maxLife.Load()
						if life <= old || maxLife.CompareAndSwap(old, life) {
							break
						}
					}
				}
			}(i)
		}
	}
	// A closed peer shows up on write (EPIPE/reset) or on a read returning EOF; probe both.
	alive := func(c net.Conn) error {
		_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
		var b [64]byte
		_, err := c.Read(b[:])
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return nil
		}
		return err
	}
	run(o.Slowloris, func(c net.Conn) error {
		// Announce a 66-byte frame (a HELLO's size), then drip its body a byte at a time.
		if _, err := c.Write([]byte{0, 66, byte(0x11)}); err != nil {
			return err
		}
		bytes.Add(3)
		for ctx.Err() == nil {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(o.Drip):
			}
			if err := alive(c); err != nil {
				return err
			}
			if _, err := c.Write([]byte{0}); err != nil {
				return err
			}
			bytes.Add(1)
		}
		return nil
	})
	run(o.Garbage, func(c net.Conn) error {
		rng := rand.New(rand.NewPCG(rand.Uint64(), 3))
		buf := make([]byte, 4096)
		for ctx.Err() == nil {
			for i := range buf {
				buf[i] = byte(rng.Uint32())
			}
			_ = c.SetWriteDeadline(time.Now().Add(time.Second))
			n, err := c.Write(buf)
			bytes.Add(int64(n))
			if err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					continue
				}
				return err
			}
			if err := alive(c); err != nil {
				return err
			}
		}
		return nil
	})
	run(o.Oversize, func(c net.Conn) error {
		if _, err := c.Write([]byte{0xff, 0xff, 0x13, 0x01}); err != nil {
			return err
		}
		bytes.Add(4)
		for ctx.Err() == nil {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(500 * time.Millisecond):
			}
			if err := alive(c); err != nil {
				return err
			}
		}
		return nil
	})
	wg.Wait()
	r.Opened, r.DialErrors, r.ClosedByPeer, r.BytesSent = opened.Load(), dialErr.Load(), closed.Load(), bytes.Load()
	r.MaxLifetime = time.Duration(maxLife.Load())
	return r
}
