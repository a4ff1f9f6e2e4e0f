package watcher_test

import (
	"math/rand/v2"
	"net/http"
	"net/http/httputil"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"heartline/agent/watcher"
	"heartline/protocol/presencekv"
	"heartline/scripts/consultest"
	"heartline/scripts/proctest"
)

// countingProxy forwards to a real Consul and counts the requests and response bytes of
// bucket reads: presence/last-seen listings and gets, and transactions.
type countingProxy struct {
	proxy         *httputil.ReverseProxy
	calls, bytes  atomic.Int64
	prefixOfReads []string
}

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c countingWriter) Write(b []byte) (int, error) {
	c.n.Add(int64(len(b)))
	return c.ResponseWriter.Write(b)
}

func (p *countingProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	read := r.URL.Path == "/v1/txn"
	for _, pre := range p.prefixOfReads {
		read = read || strings.HasPrefix(r.URL.Path, "/v1/kv/"+pre)
	}
	if read {
		p.calls.Add(1)
		w = countingWriter{w, &p.bytes}
	}
	p.proxy.ServeHTTP(w, r)
}

// Issue 14: a watcher that sees a gap in one gateway's change records re-reads only that
// gateway's keys whose ModifyIndex changed (and their buckets' last-seen keys), not every
// bucket of every gateway. 1,000 buckets x 3 gateways, 5 sessions per key; one gateway
// changes 6 keys (5 rewritten, 1 deleted) behind a sequence gap.
func TestGapRecoveryReadsOnlyWhatChanged(t *testing.T) {
	const (
		pfx      = prefix // startWatcher's
		buckets  = 1000
		gateways = 3
		perKey   = 5
	)
	s := consultest.Start(t, nil)
	c := s.Client()
	if _, err := c.KV().Put(&api.KVPair{Key: presencekv.ConfigKey(pfx), Value: presencekv.EncodeConfig(presencekv.Config{Version: presencekv.ConfigVersion, Buckets: buckets})}, nil); err != nil {
		t.Fatal(err)
	}
	// users[g][b]: the users of gateway g in bucket b (user % gateways == g).
	users := make([][][]uint64, gateways)
	for g := range users {
		users[g] = make([][]uint64, buckets)
	}
	r := rand.New(rand.NewPCG(14, 2)) // user ids spread like real ones (listings are gzipped)
	for filled := 0; filled < gateways*buckets; {
		u := r.Uint64()
		g, b := int(u%gateways), presencekv.Bucket(u, buckets)
		if len(users[g][b]) < perKey {
			users[g][b] = append(users[g][b], u)
			if len(users[g][b]) == perKey {
				filled++
			}
		}
	}
	var codec presencekv.Codec
	value := func(us []uint64) []byte {
		us = slices.Clone(us)
		slices.Sort(us)
		ss := make([]presencekv.Session, 0, len(us))
		for _, u := range us {
			ss = append(ss, presencekv.Session{User: u, Device: 1, Status: watcher.StatusActive, Since: 5})
		}
		v, err := codec.AppendSessions(nil, ss)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	changeRecord := func(gw string, seq uint64) *api.TxnOp {
		return &api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVSet, Key: presencekv.ChangesKey(pfx, gw, 0),
			Value: codec.AppendChangeRecord(nil, &presencekv.ChangeRecord{Epoch: 1, Entries: []presencekv.ChangeEntry{{Seq: seq}}})}}
	}
	commit := func(ops api.TxnOps) {
		t.Helper()
		for len(ops) > 0 {
			n := min(len(ops), 128)
			ok, resp, _, err := c.Txn().Txn(ops[:n], nil)
			if err != nil || !ok {
				t.Fatalf("setup txn: %v %+v", err, resp)
			}
			ops = ops[n:]
		}
	}
	gw := func(g int) string { return "gw-" + string(rune('0'+g)) }
	var ops api.TxnOps
	for g := 0; g < gateways; g++ {
		for b := uint32(0); b < buckets; b++ {
			ops = append(ops, &api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVSet, Key: presencekv.PresenceKey(pfx, b, gw(g)), Value: value(users[g][b])}})
		}
		ops = append(ops, changeRecord(gw(g), 1))
	}
	commit(ops)

	p := &countingProxy{proxy: reverseProxy(s), prefixOfReads: []string{presencekv.PresencePrefix(pfx), presencekv.LastSeenPrefix(pfx)}}
	w := startWatcher(t, frontClient(t, s, p), nil)
	if st := w.Stats(); st.OnlineUsers != gateways*buckets*perKey {
		t.Fatalf("after the full read %d users online, want %d", st.OnlineUsers, gateways*buckets*perKey)
	}
	full := w.Stats()
	fullCalls, fullBytes := p.calls.Load(), p.bytes.Load()

	// Behind a gap (seq 1 -> 3) gw-1 rewrites 5 buckets with a new member each and empties one.
	var newcomers []uint64
	ops = nil
	for i := 0; i < 5; {
		u := r.Uint64()
		b := presencekv.Bucket(u, buckets)
		if b%100 != uint32(i*7) || u%gateways != 1 {
			continue
		}
		newcomers = append(newcomers, u)
		ops = append(ops, &api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVSet, Key: presencekv.PresenceKey(pfx, b, gw(1)), Value: value(append(slices.Clone(users[1][b]), u))}})
		i++
	}
	emptied := uint32(999)
	ops = append(ops, &api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVDelete, Key: presencekv.PresenceKey(pfx, emptied, gw(1))}}, changeRecord(gw(1), 3))
	commit(ops)
	proctest.WaitFor(t, 20*time.Second, "the gap's changes in the watcher", func() bool {
		for _, u := range newcomers {
			if !w.Lookup(u).Online {
				return false
			}
		}
		for _, u := range users[1][emptied] {
			if w.Lookup(u).Online {
				return false
			}
		}
		return w.Stats().Resyncs == full.Resyncs+1
	})
	after := w.Stats()
	incCalls, incBytes := p.calls.Load()-fullCalls, p.bytes.Load()-fullBytes
	t.Logf("full read at start: %d requests, %d response bytes (watcher: %d calls, %d key+value bytes)", fullCalls, fullBytes, full.ResyncCalls, full.ResyncBytes)
	t.Logf("gap recovery (6 of gw-1's 1000 keys changed): %d requests, %d response bytes (watcher: %d calls, %d key+value bytes)",
		incCalls, incBytes, after.ResyncCalls-full.ResyncCalls, after.ResyncBytes-full.ResyncBytes)
	if want := gateways * buckets * perKey; after.OnlineUsers != want+len(newcomers)-perKey {
		t.Fatalf("%d users online after the gap, want %d", after.OnlineUsers, want+len(newcomers)-perKey)
	}
	// The old recovery listed every presence key again (as much as the full read); this one
	// reads one gateway's 6 changed keys and checks its 1000 indexes.
	if incBytes*20 > fullBytes {
		t.Fatalf("gap recovery received %d bytes, the full read %d: not incremental", incBytes, fullBytes)
	}
	if inc := after.ResyncBytes - full.ResyncBytes; inc*50 > full.ResyncBytes {
		t.Fatalf("gap recovery read %d key+value bytes, the full read %d: not incremental", inc, full.ResyncBytes)
	}
}
