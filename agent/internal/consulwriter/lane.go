package consulwriter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/consul/api"
	"go.uber.org/zap"

	"heartline/agent/internal/state"
	"heartline/agent/shared/clock"
	"heartline/protocol/presencekv"
)

// A lane owns the buckets b with b % lanes == lane and commits them one transaction at a
// time, so a bucket is never in two transactions at once (its writes land in order) while
// the lanes together keep several transactions in flight. Each lane publishes its own
// change record key, so a watcher sees each lane's sequence without gaps from concurrency.
type lane struct {
	w  *Writer
	id int

	gen, epoch uint64
	seq        uint64
	window     []presencekv.ChangeEntry // committed entries, oldest first
	incomplete bool                     // publish the next entry as Incomplete

	// Last-seen (lastseen.go) is merged by a goroutine of its own per lane, so that CAS
	// contention on it (two agents moving the same users at once) never holds presence back.
	lastSeen        map[uint32]*lastSeen // only the last-seen goroutine touches it
	lastSeenLoaded  bool
	lastSeenBuckets []uint32
	lsBackoff       clock.Backoff
	lsCodec         presencekv.Codec // a Codec keeps scratch buffers: one per goroutine
	lsKick          chan struct{}
	sweepNext       int // the lane's next bucket for the last-seen sweep (index among its buckets)
	lsMu            sync.Mutex
	// pendingLastSeen holds, per bucket, offline times whose presence is committed but whose
	// last-seen merge is not yet (guarded by lsMu); lsInFlight counts the buckets the
	// last-seen goroutine has taken and not yet committed or put back.
	pendingLastSeen map[uint32][]presencekv.LastSeen
	lsInFlight      int
	pendingN        atomic.Int64 // pending + in flight, for Writer.Flush

	// refused holds the buckets whose value was too large to write (oversize.go): their
	// transitions since were never published, so the entry that writes one again is
	// published Incomplete (watchers re-read). Only the lane goroutine touches it.
	refused        map[uint32]bool
	oversizeLogged time.Time // when a refusal was last logged, and how many since
	oversizeSeen   int
	// lsOversizeLogged: when a last-seen trim was last logged (last-seen goroutine only).
	lsOversizeLogged time.Time

	lastErr error
	codec   presencekv.Codec
	backoff clock.Backoff
	work    []state.Work
}

type lastSeen struct {
	entries []presencekv.LastSeen
	index   uint64
	known   bool
}

type opKind uint8

const (
	opPresence opKind = iota
	opLastSeen
	opChange
)

type opInfo struct {
	kind   opKind
	bucket uint32
	merged []presencekv.LastSeen
}

var errNoSession = errors.New("no Consul session (being created)")

func newLane(w *Writer, id int) *lane {
	return &lane{w: w, id: id, lastSeen: map[uint32]*lastSeen{}, pendingLastSeen: map[uint32][]presencekv.LastSeen{}, refused: map[uint32]bool{},
		lsKick:    make(chan struct{}, 1),
		backoff:   clock.Backoff{Min: w.o.BackoffMin, Max: w.o.BackoffMax},
		lsBackoff: clock.Backoff{Min: w.o.BackoffMin, Max: w.o.BackoffMax}}
}

func (l *lane) run(ctx context.Context, kick <-chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-kick:
		}
		l.drain(ctx)
	}
}

// drain commits the buckets that are dirty when the flush starts; buckets dirtied while
// it runs wait for the next flush, so every transaction carries a full window of changes.
// On a failure the uncommitted buckets go back to the table and the lane waits (backoff),
// then takes them again: the next Take encodes the buckets' state as it is then, so
// recovery writes current state.
func (l *lane) drain(ctx context.Context) {
	l.w.busy.Add(1)
	defer l.w.busy.Add(-1)
	for ctx.Err() == nil {
		work := l.w.o.Table.Take(l.id, int(l.w.o.Table.Buckets()), l.work[:0])
		for len(work) > 0 {
			n, err := l.commit(ctx, work)
			if err != nil {
				break
			}
			l.backoff.Reset()
			work = work[n:]
		}
		if len(work) == 0 {
			return
		}
		l.w.o.Table.Requeue(work)
		wait := l.backoff.Next()
		l.w.o.Log.Warn("Consul transaction failed; buckets stay dirty, retrying", zap.Int("lane", l.id),
			zap.Int("buckets", len(work)), zap.Duration("in", wait), zap.Error(l.lastErr))
		select {
		case <-ctx.Done():
			return
		case <-l.w.o.Clock.After(wait):
		}
	}
}

// commit writes a prefix of work in one transaction and returns how many buckets it took.
// A lock held by an earlier session of ours is released and the transaction retried in
// place; anything else is returned as an error (and kept in lastErr for the log).
func (l *lane) commit(ctx context.Context, work []state.Work) (int, error) {
	for attempt := 0; ; attempt++ {
		n, retry, err := l.try(ctx, work)
		if err == nil && retry > 0 && attempt >= 8 {
			err = fmt.Errorf("transaction still rolled back after %d attempts (locks held by earlier sessions of ours)", attempt+1)
		}
		l.lastErr = err
		if err != nil || retry == 0 {
			return n, err
		}
	}
}

func (l *lane) try(ctx context.Context, work []state.Work) (int, int, error) {
	o := &l.w.o
	sid, gen, epoch := o.Session.Current()
	if sid == "" {
		return 0, 0, errNoSession
	}
	if gen != l.gen {
		// New session: Consul deleted the old one's keys, including our change records.
		// A replacement session (gen > 1) rewrites state that its change records never
		// describe, so its first entry is published Incomplete: watchers re-read buckets.
		l.gen, l.epoch, l.seq, l.window = gen, epoch, 0, nil
		l.incomplete = gen > 1
	}
	// Choose the buckets of this transaction by op count, one op left for the change record.
	n := min(len(work), o.MaxOps-1)
	ops := n
	txn := make(api.TxnOps, 0, ops+1)
	infos := make([]opInfo, 0, ops+1)
	size, values := 0, 0
	var transitions []presencekv.Transition
	taken := 0
	var rewritten []uint32 // buckets refused earlier that this txn writes: their transitions are incomplete
	for i := 0; i < n; i++ {
		w := &work[i]
		start, startSize := len(txn), size
		key := presencekv.PresenceKey(o.Prefix, w.Bucket, o.GatewayID)
		if len(w.Sessions) > 0 {
			val, err := l.codec.AppendSessions(nil, w.Sessions)
			if err != nil {
				return 0, 0, fmt.Errorf("encoding bucket %d: %w", w.Bucket, err)
			}
			if opSize(key, len(val)) > o.MaxBytes {
				l.refuseOversized(w, key, len(val))
				taken++
				continue
			}
			txn = append(txn, &api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVLock, Key: key, Value: val, Session: sid}})
			size += opSize(key, len(val))
		} else {
			txn = append(txn, &api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVDelete, Key: key}})
			size += opSize(key, 0)
		}
		infos = append(infos, opInfo{kind: opPresence, bucket: w.Bucket})
		if size > o.MaxBytes && i > 0 {
			txn, infos, size = txn[:start], infos[:start], startSize
			break
		}
		if l.refused[w.Bucket] {
			rewritten = append(rewritten, w.Bucket)
		}
		transitions = append(transitions, w.Transitions...)
		taken++
	}
	values = size
	// The change record: this flush's transitions plus the lane's recent committed entries.
	entry := presencekv.ChangeEntry{Seq: l.seq + 1, Transitions: transitions}
	if len(transitions) > o.MaxChangeTransitions || l.incomplete || len(rewritten) > 0 {
		entry = presencekv.ChangeEntry{Seq: l.seq + 1, Incomplete: true}
	}
	rec := presencekv.ChangeRecord{Epoch: l.epoch}
	budget := o.MaxChangeTransitions - len(entry.Transitions)
	first := len(l.window)
	for first > 0 && len(l.window[first-1].Transitions) <= budget && len(l.window)-first < o.ChangeWindow-1 {
		budget -= len(l.window[first-1].Transitions)
		first--
	}
	rec.Entries = append(append(rec.Entries, l.window[first:]...), entry)
	cval := l.codec.AppendChangeRecord(nil, &rec)
	ckey := presencekv.ChangesKey(o.Prefix, o.GatewayID, l.id)
	txn = append(txn, &api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVLock, Key: ckey, Value: cval, Session: sid}})
	infos = append(infos, opInfo{kind: opChange})
	values += opSize(ckey, len(cval))

	res, err := l.w.runTxn(ctx, txn, values)
	if err != nil {
		// The outcome is unknown (a timeout may hide a commit). Burn the sequence number:
		// if it did commit, watchers saw seq+1 and the retry's seq+2 follows it; if it did
		// not, watchers see a gap and re-read. Reusing seq+1 could make a watcher skip the
		// retry as "already seen".
		l.seq++
		l.window = nil
		return 0, 0, fmt.Errorf("txn of %d ops: %w", len(txn), err)
	}
	if !res.committed {
		conflicts, err := l.rolledBack(ctx, sid, txn, infos, res.errors)
		return 0, conflicts, err
	}
	o.Metrics.TransitionsOut.Add(float64(len(transitions)))
	l.queueLastSeen(work[:taken])
	entry.Index = res.index[ckey]
	l.seq++
	l.incomplete = false
	for _, b := range rewritten {
		delete(l.refused, b)
	}
	l.window = append(append(l.window[:0:0], l.window[first:]...), entry)
	return taken, 0, nil
}

// rolledBack handles a presence transaction Consul rolled back, op by op from the
// response's errors: a lock failing with "invalid session"
// means our session is gone; a lock "already held" means an earlier session of ours still
// holds the key: it is destroyed and the transaction retried at once (counted as a
// conflict).
func (l *lane) rolledBack(ctx context.Context, sid string, txn api.TxnOps, infos []opInfo, errs api.TxnErrors) (int, error) {
	conflicts := 0
	var other []string
	released := map[string]bool{}
	for _, e := range errs {
		if e.OpIndex < 0 || e.OpIndex >= len(infos) {
			other = append(other, e.What)
			continue
		}
		switch {
		case strings.Contains(e.What, "invalid session"):
			l.w.o.Session.Invalid(sid)
			other = append(other, e.What)
		case strings.Contains(e.What, "lock is already held"):
			key := txn[e.OpIndex].KV.Key
			if released[key] {
				continue
			}
			released[key] = true
			ok, err := l.w.o.Session.ReleaseHeld(ctx, key)
			switch {
			case err != nil:
				other = append(other, fmt.Sprintf("op %d (%s %s): %s; %v", e.OpIndex, txn[e.OpIndex].KV.Verb, key, e.What, err))
			case ok:
				conflicts++
			default:
				other = append(other, e.What)
			}
		default:
			other = append(other, fmt.Sprintf("op %d (%s %s): %s", e.OpIndex, txn[e.OpIndex].KV.Verb, txn[e.OpIndex].KV.Key, e.What))
		}
	}
	if len(other) > 0 {
		return 0, fmt.Errorf("transaction rolled back: %s", strings.Join(other, "; "))
	}
	return conflicts, nil
}

// opSize estimates an op's share of the JSON request: base64 value, key, session id and
// field names.
func opSize(key string, valueLen int) int {
	return len(key) + (valueLen+2)/3*4 + 128
}
