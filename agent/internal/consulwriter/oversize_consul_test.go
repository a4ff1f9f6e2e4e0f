package consulwriter

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"heartline/protocol/presencekv"
	"heartline/scripts/consultest"
)

// Issue 14: a bucket whose value cannot fit in a Consul transaction (Consul's default
// limits: 512 KiB of request body and of value) used to be retried for ever, holding its
// lane's other buckets back. It is refused and counted instead; the lane's other buckets
// are written; once the bucket shrinks it is written again under an Incomplete change entry.
// A last-seen bucket that grows too large loses its oldest entries instead.
func TestOversizedBucketIsRefusedAndCountedNotRetried(t *testing.T) {
	s := consultest.Start(t, nil) // Consul's default limits
	c := s.Client()
	const buckets = 2
	a := startAgent(t, c, "gw-big", harnessOpts{buckets: buckets, lanes: 1})
	r := rand.New(rand.NewPCG(14, 4))
	var big []presencekv.Transition
	seen := map[uint64]bool{}
	for len(big) < 40000 {
		u := r.Uint64()
		if presencekv.Bucket(u, buckets) != 0 || seen[u] {
			continue
		}
		seen[u] = true
		big = append(big, presencekv.Transition{Kind: presencekv.KindOnline, User: u, Device: r.Uint32(), Status: 2, At: r.Int64N(1 << 40)})
	}
	small := uint64(1)
	for presencekv.Bucket(small, buckets) != 1 {
		small++
	}
	a.table.ApplyAll(append(big, online(small, 1, 1000)))
	flushWithin(t, a, 20*time.Second) // before the fix: retried for ever, so this timed out
	if got := testutil.ToFloat64(a.metrics.OversizedBuckets); got != 1 {
		t.Fatalf("oversized values counted: %v, want 1", got)
	}
	if got := testutil.ToFloat64(a.metrics.Txns.WithLabelValues("error")); got != 0 {
		t.Fatalf("%v transactions failed: the oversized bucket reached Consul", got)
	}
	keyBig := presencekv.PresenceKey(testPrefix, 0, a.gw)
	if p, _, err := c.KV().Get(keyBig, nil); err != nil || p != nil {
		t.Fatalf("the oversized bucket was written (%v)", err)
	}
	if p, _, err := c.KV().Get(presencekv.PresenceKey(testPrefix, 1, a.gw), nil); err != nil || p == nil {
		t.Fatalf("the lane's other bucket was not written (%v)", err)
	}

	// Most of the big bucket goes offline, at times spread over the last day: the bucket
	// fits again, and its last-seen value would not.
	now := time.Now().UnixMilli()
	var offs []presencekv.Transition
	newest := presencekv.LastSeen{}
	for _, tr := range big[100:] {
		at := now - r.Int64N(24*3600*1000)
		offs = append(offs, offline(tr.User, tr.Device, at))
		if at > newest.At {
			newest = presencekv.LastSeen{User: tr.User, At: at}
		}
	}
	a.table.ApplyAll(offs)
	flushWithin(t, a, 20*time.Second)
	sameAsTable(t, c, a)
	if got := testutil.ToFloat64(a.metrics.OversizedBuckets); got != 2 {
		t.Fatalf("oversized values counted: %v, want 2 (the presence bucket, then its last-seen bucket)", got)
	}
	var codec presencekv.Codec
	p, _, err := c.KV().Get(presencekv.ChangesKey(testPrefix, a.gw, 0), nil)
	if err != nil || p == nil {
		t.Fatalf("change record missing (%v)", err)
	}
	var rec presencekv.ChangeRecord
	if err := codec.DecodeChangeRecord(&rec, p.Value); err != nil {
		t.Fatal(err)
	}
	if last := rec.Entries[len(rec.Entries)-1]; !last.Incomplete {
		t.Fatalf("the write of the once-refused bucket was published as complete (%d transitions): watchers would miss what was refused", len(last.Transitions))
	}
	p, _, err = c.KV().Get(presencekv.LastSeenKey(testPrefix, 0), nil)
	if err != nil || p == nil {
		t.Fatalf("last-seen of the big bucket missing (%v)", err)
	}
	ls, err := codec.DecodeLastSeen(nil, p.Value)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("last seen: %d of %d entries kept in %d bytes", len(ls), len(offs), len(p.Value))
	if len(ls) == 0 || len(ls) >= len(offs) || !slices.Contains(ls, newest) {
		t.Fatalf("last seen holds %d of %d entries (newest kept: %v): want the newest that fit", len(ls), len(offs), slices.Contains(ls, newest))
	}
}

func flushWithin(t *testing.T, a *agentUnderTest, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := a.writer.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}
