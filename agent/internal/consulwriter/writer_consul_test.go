package consulwriter

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"heartline/protocol/presencekv"
	"heartline/scripts/consultest"
	"heartline/scripts/proctest"
)

func histCount(t *testing.T, h interface{ Write(*dto.Metric) error }) (uint64, float64) {
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.Histogram.GetSampleCount(), m.Histogram.GetSampleSum()
}

// usersInDistinctBuckets returns n users that fall into n different buckets.
func usersInDistinctBuckets(n int, buckets uint32) []uint64 {
	seen := map[uint32]bool{}
	var out []uint64
	for u := uint64(1); len(out) < n; u++ {
		b := presencekv.Bucket(u, buckets)
		if !seen[b] {
			seen[b] = true
			out = append(out, u)
		}
	}
	return out
}

func TestBatchOf300ChangesSplitsIntoTxnsOfAtMost128Ops(t *testing.T) {
	s := consultest.Start(t, nil)
	c := s.Client()
	a := startAgent(t, c, "gw-split", harnessOpts{lanes: 1})
	var batch []presencekv.Transition
	for _, u := range usersInDistinctBuckets(300, 1024) {
		batch = append(batch, online(u, 1, 1000))
	}
	a.table.ApplyAll(batch) // atomically, so one flush sees all 300
	a.flush(t)
	txns, ops := histCount(t, a.metrics.TxnOps)
	// 300 bucket ops + one change-record op per txn, at most 128 ops each: 3 txns.
	if txns != 3 || ops != 303 {
		t.Fatalf("300 bucket changes took %d txns with %v ops; want 3 txns of <=128 ops (303 ops)", txns, ops)
	}
	sameAsTable(t, c, a)
	_, pairs := presenceInConsul(t, c, a.gw)
	id, _, _ := a.sess.Current()
	for _, p := range pairs {
		if p.Session != id {
			t.Fatalf("%s is held by session %q, want %q", p.Key, p.Session, id)
		}
	}
}

func TestConsulRejectsATxnOf129Ops(t *testing.T) {
	// Guards ConsulMaxTxnOps against the Consul version the project pins.
	s := consultest.Start(t, nil)
	var ops api.TxnOps
	for i := 0; i < ConsulMaxTxnOps+1; i++ {
		ops = append(ops, &api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVSet, Key: "x/" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Value: []byte{1}}})
	}
	if ok, _, _, err := s.Client().Txn().Txn(ops, nil); ok || err == nil {
		t.Fatalf("a %d-op txn was accepted (ok=%v err=%v); ConsulMaxTxnOps is stale", len(ops), ok, err)
	}
	if ok, _, _, err := s.Client().Txn().Txn(ops[:ConsulMaxTxnOps], nil); !ok || err != nil {
		t.Fatalf("a %d-op txn was rejected: %v", ConsulMaxTxnOps, err)
	}
}

func TestEmptyBucketIsDeletedAndOfflineGoesToLastSeen(t *testing.T) {
	s := consultest.Start(t, nil)
	c := s.Client()
	a := startAgent(t, c, "gw-del", harnessOpts{})
	a.table.Apply(online(42, 1, 1000))
	a.flush(t)
	if got, _ := presenceInConsul(t, c, a.gw); len(got) != 1 {
		t.Fatalf("after online: %d sessions in Consul", len(got))
	}
	now := time.Now().UnixMilli()
	a.table.Apply(offline(42, 1, now))
	a.flush(t)
	if _, pairs := presenceInConsul(t, c, a.gw); len(pairs) != 0 {
		t.Fatalf("bucket key of an empty bucket still exists: %v", pairs[0].Key)
	}
	p, _, err := c.KV().Get(presencekv.LastSeenKey(testPrefix, presencekv.Bucket(42, 1024)), nil)
	if err != nil || p == nil {
		t.Fatalf("last-seen key missing: %v", err)
	}
	var codec presencekv.Codec
	ls, err := codec.DecodeLastSeen(nil, p.Value)
	if err != nil || len(ls) != 1 || ls[0].User != 42 || ls[0].At != now {
		t.Fatalf("last seen = %v, %v; want user 42 at %d", ls, err, now)
	}
}

func TestLastSeenCASConflictBetweenTwoAgentsMergesBoth(t *testing.T) {
	s := consultest.Start(t, nil)
	c := s.Client()
	// Two users of the same bucket, one on each gateway.
	var u1, u2 uint64 = 7, 8
	for presencekv.Bucket(u2, 1024) != presencekv.Bucket(u1, 1024) {
		u2++
	}
	a := startAgent(t, c, "gw-a", harnessOpts{})
	b := startAgent(t, c, "gw-b", harnessOpts{}) // both loaded last seen before either wrote
	now := time.Now().UnixMilli()
	a.table.Apply(online(u1, 1, now-5000))
	b.table.Apply(online(u2, 1, now-5000))
	a.flush(t)
	b.flush(t)
	a.table.Apply(offline(u1, 1, now-100))
	a.flush(t)
	b.table.Apply(offline(u2, 1, now-50)) // b's cached index is stale: its CAS must lose once
	b.flush(t)
	p, _, err := c.KV().Get(presencekv.LastSeenKey(testPrefix, presencekv.Bucket(u1, 1024)), nil)
	if err != nil || p == nil {
		t.Fatalf("last-seen key missing: %v", err)
	}
	var codec presencekv.Codec
	ls, _ := codec.DecodeLastSeen(nil, p.Value)
	got := map[uint64]int64{}
	for _, e := range ls {
		got[e.User] = e.At
	}
	if got[u1] != now-100 || got[u2] != now-50 {
		t.Fatalf("last seen after both agents wrote = %v; want both users (%d, %d)", ls, u1, u2)
	}
	var m dto.Metric
	b.metrics.CASConflicts.Write(&m) //nolint:errcheck
	if m.Counter.GetValue() < 1 {
		t.Fatalf("agent b saw no CAS conflict although its cached index was stale")
	}
}

func TestSessionInvalidationDeletesPresenceAndAgentRewrites(t *testing.T) {
	s := consultest.Start(t, nil)
	c := s.Client()
	a := startAgent(t, c, "gw-inv", harnessOpts{})
	for u := uint64(1); u <= 50; u++ {
		a.table.Apply(online(u, 1, 1000))
	}
	a.flush(t)
	sameAsTable(t, c, a)
	old, _, _ := a.sess.Current()
	if _, err := c.Session().Destroy(old, nil); err != nil { // what Consul does when a check fails
		t.Fatal(err)
	}
	if _, pairs := presenceInConsul(t, c, a.gw); len(pairs) != 0 {
		t.Fatalf("%d presence keys survived their session", len(pairs))
	}
	// The next write finds the session invalid; the agent makes a new one and rewrites all.
	a.table.Apply(online(51, 1, 1000))
	proctest.WaitFor(t, 20*time.Second, "a new session", func() bool { id, _, _ := a.sess.Current(); return id != "" && id != old })
	a.flush(t)
	sameAsTable(t, c, a)
}

func TestFailingGatewayCheckInvalidatesSessionAndDeletesPresence(t *testing.T) {
	s := consultest.Start(t, nil)
	c := s.Client()
	var healthy atomic.Bool
	healthy.Store(true)
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !healthy.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok")) //nolint:errcheck
	}))
	defer gw.Close()
	so := ServiceOptions{GatewayID: "gw-chk", UDPPort: 7000, TCPPort: 7001, HealthURL: gw.URL + "/healthz",
		CheckInterval: 200 * time.Millisecond, CheckTimeout: 100 * time.Millisecond}
	if err := RegisterService(c, so, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	proctest.WaitFor(t, 20*time.Second, "the gateway check to pass", func() bool {
		checks, err := c.Agent().Checks()
		return err == nil && checks[so.CheckID()] != nil && checks[so.CheckID()].Status == api.HealthPassing
	})

	svcs, err := c.Agent().Services()
	if err != nil || svcs["gw-chk"] == nil || svcs["gw-chk"].Service != "heartline-gateway" || svcs["gw-chk"].Meta["tcp_port"] != "7001" {
		t.Fatalf("service registration = %+v, %v", svcs["gw-chk"], err)
	}
	a := startAgent(t, c, "gw-chk", harnessOpts{checkID: so.CheckID()})
	a.table.Apply(online(5, 1, 1000))
	a.flush(t)
	if _, pairs := presenceInConsul(t, c, a.gw); len(pairs) != 1 {
		t.Fatalf("presence not written")
	}
	healthy.Store(false)
	proctest.WaitFor(t, 20*time.Second, "presence to vanish after the gateway check failed", func() bool {
		_, pairs := presenceInConsul(t, c, a.gw)
		return len(pairs) == 0
	})

	if err := DeregisterService(c, "gw-chk"); err != nil {
		t.Fatal(err)
	}
	if svcs, _ := c.Agent().Services(); svcs["gw-chk"] != nil {
		t.Fatal("service still registered after deregistration")
	}
}

func TestSessionTTLExpiryDeletesPresence(t *testing.T) {
	s := consultest.Start(t, &consultest.Options{SessionTTLMin: time.Second})
	c := s.Client()
	a := startAgent(t, c, "gw-ttl", harnessOpts{ttl: time.Second})
	a.table.Apply(online(9, 1, 1000))
	a.flush(t)
	a.stop() // no more renewals: the gateway host "died"
	start := time.Now()
	proctest.WaitFor(t, 10*time.Second, "presence to vanish after the TTL", func() bool {
		_, pairs := presenceInConsul(t, c, a.gw)
		return len(pairs) == 0
	})

	t.Logf("presence vanished %s after the last renewal stopped (TTL 1s; Consul allows up to 2xTTL)", time.Since(start).Round(10*time.Millisecond))
}

func TestOutageConvergesToCurrentState(t *testing.T) {
	s := consultest.Start(t, nil)
	c := s.Client()
	a := startAgent(t, c, "gw-out", harnessOpts{})
	for u := uint64(1); u <= 200; u++ {
		a.table.Apply(online(u, 1, 1000))
	}
	a.flush(t)
	s.Stop()
	// Changes during the outage, including flips that end where they started.
	for u := uint64(1); u <= 100; u++ {
		a.table.Apply(offline(u, 1, 2000))
	}
	for u := uint64(50); u <= 60; u++ {
		a.table.Apply(online(u, 2, 3000))
	}
	for u := uint64(201); u <= 300; u++ {
		a.table.Apply(online(u, 1, 3000))
	}
	proctest.WaitFor(t, 30*time.Second, "a lane's transaction to fail during the outage", func() bool {
		return testutil.ToFloat64(a.metrics.Txns.WithLabelValues("error")) >= 1
	})
	if a.table.Dirty() == 0 {
		t.Fatal("no dirty buckets during the outage")
	}
	if a.table.Dirty() > 1024 {
		t.Fatalf("dirty set %d exceeds the bucket count", a.table.Dirty())
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitForLeader(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	a.flush(t)
	sameAsTable(t, c, a)
}

func TestTxnSplitsUnderTheByteBudget(t *testing.T) {
	s := consultest.Start(t, nil)
	c := s.Client()
	a := startAgent(t, c, "gw-bytes", harnessOpts{lanes: 1})
	a.writer.o.MaxBytes = 8 << 10 // tiny budget: a few buckets per transaction (set before any write)
	var batch []presencekv.Transition
	for i, u := range usersInDistinctBuckets(40, 1024) {
		for d := uint32(1); d <= 50; d++ { // 50 scattered devices: a few hundred bytes per bucket
			batch = append(batch, presencekv.Transition{Kind: presencekv.KindOnline, User: u, Device: d * 2654435761, Status: 2, At: int64(1000*i) + int64(d*d*997)})
		}
	}
	a.table.ApplyAll(batch)
	a.flush(t)
	txns, ops := histCount(t, a.metrics.TxnOps)
	if txns < 3 {
		t.Fatalf("40 buckets in %d txns (%v ops) under an 8 KiB budget; want a split by bytes", txns, ops)
	}
	if ops != float64(40+txns) {
		t.Fatalf("%v ops in %d txns; want 40 bucket ops + one change record per txn", ops, txns)
	}
	sameAsTable(t, c, a)
}
