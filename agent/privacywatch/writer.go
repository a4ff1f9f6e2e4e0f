package privacywatch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/consul/api"

	"heartline/protocol/privacy"
)

// Writer changes privacy records with check-and-set, so several site processes may write
// the same bucket: each read-modify-write retries on conflict. Only the site writes.
type Writer struct {
	Client *api.Client
	Prefix string
	// Keep is how long a revocation is kept: the grant lifetime (revocations older than
	// every live grant are dropped on the next write of their bucket). Default 10 min.
	Keep time.Duration
	Now  func() time.Time
}

// Update applies change to subject's bucket record and writes it.
// Update returns once Consul has committed the change.
func (w *Writer) Update(ctx context.Context, subject uint64, change func(r *privacy.Record)) error {
	if w.Client == nil {
		return errors.New("privacywatch: Writer.Client is nil")
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	keep := w.Keep
	if keep <= 0 {
		keep = 10 * time.Minute
	}
	key := privacy.RecordKey(w.Prefix, privacy.RecordBucket(subject))
	kv := w.Client.KV()
	for attempt := 0; attempt < 20; attempt++ {
		p, _, err := kv.Get(key, (&api.QueryOptions{RequireConsistent: true}).WithContext(ctx))
		if err != nil {
			return fmt.Errorf("privacywatch: reading %s: %w", key, err)
		}
		rec := &privacy.Record{}
		var cas uint64
		if p != nil {
			cas = p.ModifyIndex
			if rec, err = privacy.DecodeRecord(p.Value); err != nil {
				rec = &privacy.Record{} // unreadable: rewrite from this change (logged by watchers)
			}
		}
		change(rec)
		rec.Prune(now().Add(-keep - privacy.ClockSkew).UnixMilli())
		ok, _, err := kv.CAS(&api.KVPair{Key: key, Value: rec.Append(nil), ModifyIndex: cas}, (&api.WriteOptions{}).WithContext(ctx))
		if err != nil {
			return fmt.Errorf("privacywatch: writing %s: %w", key, err)
		}
		if ok {
			return nil
		}
	}
	return fmt.Errorf("privacywatch: %s kept changing under 20 check-and-set attempts; retry the change", key)
}
