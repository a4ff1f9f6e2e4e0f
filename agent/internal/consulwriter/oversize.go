package consulwriter

import (
	"cmp"
	"slices"
	"time"

	"go.uber.org/zap"

	"heartline/agent/internal/state"
	"heartline/protocol/presencekv"
)

// Values too large for Consul. Consul refuses a transaction whose request body exceeds
// limits.txn_max_req_len, or one of whose values exceeds limits.kv_max_value_size (both 512
// KiB by default), with HTTP 413; retrying the same value can never succeed. Writer.MaxBytes
// (3/4 of 512 KiB, which covers base64 and JSON) bounds one op as well as a whole
// transaction, so a value whose op alone exceeds it is never sent:
//
//   - a presence bucket (one gateway's sessions of one bucket) cannot be split without
//     changing the key layout, so it is refused: counted in
//     heartline_agent_oversized_values_total, logged at error, and not retried. Consul keeps
//     the bucket's previous value; the bucket is written again the next time it changes and
//     fits, and that write's change entry is published Incomplete (the refused transitions
//     were never published), so watchers re-read it;
//   - a last-seen bucket is shrunk instead: its oldest entries are dropped until it fits
//     (counted in the same metric), since a last-seen time is the least valuable data.

// oversizeLogEvery rate-limits the error log of refused values, per lane.
const oversizeLogEvery = 10 * time.Second

// refuseOversized records that bucket w's value (valueLen bytes at key) is too large.
func (l *lane) refuseOversized(w *state.Work, key string, valueLen int) {
	o := &l.w.o
	o.Metrics.OversizedBuckets.Inc()
	l.refused[w.Bucket] = true
	l.oversizeSeen++
	if now := o.Clock.Now(); now.Sub(l.oversizeLogged) >= oversizeLogEvery {
		o.Log.Error("a presence bucket is too large for one Consul value; it is not written (members of this bucket on this gateway keep their previous state in Consul) until it shrinks. "+
			"Spread the gateway's members over more gateways, or start a new cluster (-prefix) with more -buckets",
			zap.String("key", key), zap.Uint32("bucket", w.Bucket), zap.Int("sessions", len(w.Sessions)),
			zap.Int("value_bytes", valueLen), zap.Int("max_txn_bytes", o.MaxBytes), zap.Int("refused_since_last_log", l.oversizeSeen))
		l.oversizeLogged, l.oversizeSeen = now, 0
	}
}

// fitLastSeen returns merged's encoding, dropping its oldest entries until the op fits in
// maxBytes, and how many it dropped. merged is sorted by user and stays so.
func fitLastSeen(codec *presencekv.Codec, key string, merged []presencekv.LastSeen, maxBytes int) ([]byte, []presencekv.LastSeen, int, error) {
	val, err := codec.AppendLastSeen(nil, merged)
	if err != nil || opSize(key, len(val)) <= maxBytes {
		return val, merged, 0, err
	}
	byAge := slices.Clone(merged)
	slices.SortFunc(byAge, func(a, b presencekv.LastSeen) int { return cmp.Compare(b.At, a.At) }) // newest first
	keep := len(merged)
	for opSize(key, len(val)) > maxBytes && keep > 0 {
		// Shrink in proportion to the excess, at least by one entry.
		keep = min(keep-1, int(int64(keep)*int64(maxBytes)/int64(opSize(key, len(val)))))
		keep = max(keep, 0)
		kept := slices.Clone(byAge[:keep])
		slices.SortFunc(kept, func(a, b presencekv.LastSeen) int { return cmp.Compare(a.User, b.User) })
		if val, err = codec.AppendLastSeen(nil, kept); err != nil {
			return nil, nil, 0, err
		}
		merged = kept
	}
	return val, merged, len(byAge) - keep, nil
}

// trimmedLastSeen records that a last-seen bucket's dropped oldest entries did not fit.
func (l *lane) trimmedLastSeen(key string, dropped, kept int) {
	o := &l.w.o
	o.Metrics.OversizedBuckets.Inc()
	if now := o.Clock.Now(); now.Sub(l.lsOversizeLogged) >= oversizeLogEvery {
		o.Log.Warn("a last-seen bucket is too large for one Consul value; its oldest entries were dropped (those members show no last-seen time). "+
			"Shorten -lastseen-retention, or start a new cluster (-prefix) with more -buckets",
			zap.String("key", key), zap.Int("dropped", dropped), zap.Int("kept", kept), zap.Int("max_txn_bytes", o.MaxBytes))
		l.lsOversizeLogged = now
	}
}
