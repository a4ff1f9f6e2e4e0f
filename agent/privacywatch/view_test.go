package privacywatch

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"heartline/protocol/privacy"
	"heartline/scripts/consultest"
)

func TestStaticViewFailsClosedUntilReady(t *testing.T) {
	v, err := New(Options{Client: nil, Prefix: "x"})
	if err == nil || v != nil {
		t.Fatal("New without a client must fail")
	}
	s := NewStatic()
	if s.Subject(5).Mode != privacy.ModeMembers {
		t.Fatal("static view: default mode must be members")
	}
	var got []Change
	s.Subscribe(func(c Change) { got = append(got, c) })
	var r privacy.Record
	r.SetMode(5, privacy.ModeNobody)
	r.Revoke(69, 3, 1000, privacy.RevokeBlock)
	s.Apply(privacy.RecordBucket(5), &r, 10)
	if s.Subject(5).Mode != privacy.ModeNobody || s.Subject(69).RevokedAt(3).AtMS != 1000 || s.Subject(69).RevokedAt(4).AtMS != 0 {
		t.Fatalf("after apply: %+v %+v", s.Subject(5), s.Subject(69))
	}
	if len(got) != 1 || len(got[0].Subjects) != 2 || got[0].Index != 10 {
		t.Fatalf("changes: %+v", got)
	}
	s.Apply(privacy.RecordBucket(5), &r, 11) // same content: no change reported
	if len(got) != 1 {
		t.Fatalf("an unchanged record was reported: %+v", got)
	}
}

// TestViewFollowsWriterThroughConsul: a real Consul; two writers (two site processes) and a
// view (a gateway). A change reaches the view well within a second, concurrent writers to one
// bucket both land (check-and-set), and a deleted key clears its bucket.
func TestViewFollowsWriterThroughConsul(t *testing.T) {
	srv := consultest.Start(t, nil)
	c := srv.Client()
	v, err := New(Options{Client: c, Prefix: "pt"})
	if err != nil {
		t.Fatal(err)
	}
	if v.Subject(1).Mode != privacy.ModeNobody {
		t.Fatal("a view that has not read yet must fail closed")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changes := make(chan Change, 64)
	v.Subscribe(func(ch Change) { changes <- ch })
	go v.Run(ctx) //nolint:errcheck
	deadline := time.Now().Add(10 * time.Second)
	for !v.Ready() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !v.Ready() || v.Subject(1).Mode != privacy.ModeMembers {
		t.Fatal("view not ready with an empty store")
	}
	w1 := &Writer{Client: c, Prefix: "pt"}
	w2 := &Writer{Client: c, Prefix: "pt"}
	start := time.Now()
	if err := w1.Update(ctx, 64, func(r *privacy.Record) { r.SetMode(64, privacy.ModeNobody) }); err != nil {
		t.Fatal(err)
	}
	select {
	case ch := <-changes:
		if len(ch.Subjects) != 1 || ch.Subjects[0] != 64 {
			t.Fatalf("change: %+v", ch)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no change seen")
	}
	t.Logf("write to view: %v", time.Since(start))
	if v.Subject(64).Mode != privacy.ModeNobody {
		t.Fatal("mode not applied")
	}
	// Concurrent writers on one bucket (subjects 0, 64, 128 share bucket 0).
	var wg sync.WaitGroup
	for i, w := range []*Writer{w1, w2, w1, w2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.Update(ctx, 128, func(r *privacy.Record) { r.Revoke(128, uint64(10+i), time.Now().UnixMilli(), privacy.RevokeBlock) }); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	deadline = time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		s := v.Subject(128)
		if s.RevokedAt(10).AtMS != 0 && s.RevokedAt(11).AtMS != 0 && s.RevokedAt(12).AtMS != 0 && s.RevokedAt(13).AtMS != 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i := range 4 {
		if v.Subject(128).RevokedAt(uint64(10+i)).AtMS == 0 {
			t.Errorf("revocation of viewer %d lost (check-and-set)", 10+i)
		}
	}
	if v.Subject(64).Mode != privacy.ModeNobody {
		t.Error("a concurrent write lost the mode of another subject in the bucket")
	}
	if _, err := c.KV().Delete(privacy.RecordKey("pt", 0), nil); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(5 * time.Second)
	for v.Subject(64).Mode != privacy.ModeMembers && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if v.Subject(64).Mode != privacy.ModeMembers {
		t.Error("a deleted record did not clear its bucket")
	}
	// A value that does not decode is counted and the bucket keeps its state.
	if err := w1.Update(ctx, 1, func(r *privacy.Record) { r.SetMode(1, privacy.ModeMatches) }); err != nil {
		t.Fatal(err)
	}
	if _, err := c.KV().Put(&api.KVPair{Key: privacy.RecordKey("pt", 2), Value: []byte("junk")}, nil); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(5 * time.Second)
	for v.Stats().DecodeErrors == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if v.Stats().DecodeErrors == 0 || v.Subject(1).Mode != privacy.ModeMatches {
		t.Errorf("junk value: stats %+v, subject 1 %+v", v.Stats(), v.Subject(1))
	}
}
