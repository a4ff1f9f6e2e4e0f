package watcher

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hashicorp/consul/api"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// handlerTransport serves HTTP requests with a handler in memory, so a watcher runs inside
// a synctest bubble (no sockets; time is the bubble's).
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// The watcher's retry backoff must start again from its minimum after a successful read: it
// used to double on every failure and never reset, so after one bad minute (a leader
// election) every later single failure waited up to 5 s, leaving the cache that far behind.
func TestRetryBackoffResetsAfterASuccessfulRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &gapKV{index: 100, seq: 5, down: true}
		cfg := api.DefaultConfig()
		cfg.Address = "consul.invalid:8500"
		cfg.HttpClient = &http.Client{Transport: handlerTransport{f}}
		c, err := api.NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		core, logs := observer.New(zap.WarnLevel)
		w, err := New(Options{Client: c, Prefix: "hlg", WaitTime: time.Second, Log: zap.New(core)})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); w.Run(ctx) }() //nolint:errcheck

		retries := func() []time.Duration {
			var out []time.Duration
			for _, e := range logs.FilterMessage("watcher: Consul read failed; retrying").All() {
				out = append(out, e.ContextMap()["in"].(time.Duration))
			}
			return out
		}
		setDown := func(down bool) {
			f.mu.Lock()
			f.down = down
			f.mu.Unlock()
		}
		// Consul without a leader for a while: the waits grow to the cap.
		for len(retries()) < 12 {
			time.Sleep(100 * time.Millisecond)
		}
		var failure string
		for cycle := 0; cycle < 5 && failure == ""; cycle++ {
			setDown(false)
			for !w.Ready() || w.Stats().Index != 100 {
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(3 * time.Second) // blocking queries succeed meanwhile
			n := len(retries())
			setDown(true)
			for len(retries()) == n {
				time.Sleep(time.Millisecond)
			}
			if wait := retries()[n]; wait > retryMin {
				failure = fmt.Sprintf("cycle %d: the first failure after successful reads waits %v, want at most %v (the backoff did not reset)", cycle, wait, retryMin)
			}
		}
		cancel()
		<-done // the bubble must be empty before the test ends, failed or not
		if failure != "" {
			t.Fatal(failure)
		}
	})
}
