package agenttest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"
	"go.uber.org/zap"

	"heartline/agent/internal/consulwriter"
	"heartline/agent/internal/feedclient"
	"heartline/agent/internal/state"
)

// EnsureConfig writes the presence config (bucket count) under prefix if it is absent and
// checks it otherwise, as the agent does at start.
func EnsureConfig(client *api.Client, prefix string, buckets uint32) error {
	_, err := consulwriter.EnsureConfig(client, prefix, buckets)
	return err
}

// Options configure Start. Zero durations take the defaults named.
type Options struct {
	Client    *api.Client
	Prefix    string
	GatewayID string
	FeedPath  string // the gateway's feed socket
	Buckets   uint32

	SessionTTL  time.Duration // Consul session TTL (default 10 s)
	FlushWindow time.Duration // writer flush window (default 10 ms)
	// Writer retry backoff (default 10 ms … 200 ms) and feed reconnect backoff
	// (default 10 ms … 100 ms): short, for tests.
	WriterBackoffMin, WriterBackoffMax time.Duration
	FeedBackoffMin, FeedBackoffMax     time.Duration
	Log                                *zap.Logger // default: discard
}

func (o *Options) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.SessionTTL, 10*time.Second)
	def(&o.FlushWindow, 10*time.Millisecond)
	def(&o.WriterBackoffMin, 10*time.Millisecond)
	def(&o.WriterBackoffMax, 200*time.Millisecond)
	def(&o.FeedBackoffMin, 10*time.Millisecond)
	def(&o.FeedBackoffMax, 100*time.Millisecond)
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
}

// Agent is one run of the agent's presence path.
type Agent struct {
	sess   *consulwriter.Session
	writer *consulwriter.Writer
	cancel context.CancelFunc // feed, session renewal and writer
	wg     sync.WaitGroup

	mu  sync.Mutex
	err error // the writer's error, if it ended before Crash or Stop
}

// Start creates the Consul session (waiting at most until ctx ends) and runs the feed
// client, the session renewal and the writer until Crash or Stop.
func Start(ctx context.Context, o Options) (*Agent, error) {
	o.defaults()
	tbl := state.New(o.Buckets, 2, 0)
	a := &Agent{}
	a.sess = consulwriter.NewSession(o.Client, consulwriter.SessionOptions{Name: "heartline-agent/" + o.GatewayID,
		TTL: o.SessionTTL, Log: o.Log, OnNew: func(gen uint64) {
			if gen > 1 {
				tbl.MarkAllDirty()
			}
		}})
	var err error
	a.writer, err = consulwriter.New(consulwriter.Options{Client: o.Client, Prefix: o.Prefix, GatewayID: o.GatewayID,
		Table: tbl, Session: a.sess, FlushWindow: o.FlushWindow, BackoffMin: o.WriterBackoffMin,
		BackoffMax: o.WriterBackoffMax, Log: o.Log})
	if err != nil {
		return nil, err
	}
	feed := feedclient.New(feedclient.Options{Path: o.FeedPath, Table: tbl, GatewayID: o.GatewayID,
		BackoffMin: o.FeedBackoffMin, BackoffMax: o.FeedBackoffMax, Log: o.Log})
	if err := a.sess.Create(ctx); err != nil {
		return nil, fmt.Errorf("agent %s: Consul session: %w", o.GatewayID, err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.wg.Add(3)
	go func() { defer a.wg.Done(); feed.Run(runCtx) }()
	go func() { defer a.wg.Done(); a.sess.Run(runCtx) }()
	go func() {
		defer a.wg.Done()
		if err := a.writer.Run(runCtx); err != nil && runCtx.Err() == nil {
			a.mu.Lock()
			a.err = fmt.Errorf("agent %s writer: %w", o.GatewayID, err)
			a.mu.Unlock()
		}
	}()
	return a, nil
}

// Err is the error the writer ended with before Crash or Stop, if any.
func (a *Agent) Err() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

// Crash ends the agent without a flush or a session destroy, as a killed process would.
func (a *Agent) Crash() {
	a.cancel()
	a.wg.Wait()
}

// Stop ends the agent the way SIGTERM does: a last flush (at most until ctx ends), then the
// session is destroyed (Consul deletes its keys). It returns the flush's and the destroy's
// errors.
func (a *Agent) Stop(ctx context.Context) error {
	ferr := a.writer.Flush(ctx)
	a.cancel()
	a.wg.Wait()
	return errors.Join(ferr, a.sess.Destroy())
}
