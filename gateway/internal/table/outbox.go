package table

import (
	"sync/atomic"

	"heartline/protocol/feed"
)

// Outbox hands one batch of records from a shard's loop to the feed writer without a lock:
// the loop fills it only while it is empty and publishes it with one atomic store; the
// writer reads it only while it is full and gives it back with one atomic store. While
// the writer still holds the previous batch the loop simply keeps its sessions dirty, so
// nothing queues beyond one record per session.
type Outbox struct {
	full  atomic.Bool
	Shard int // the shard this outbox belongs to

	// Ticket orders batches across shards (see Table.ticket): the writer emits batches in
	// ticket order, so a session that moves between shards is never reported out of order.
	Ticket uint64
	// Records are this batch's transitions (Seq unset: the writer numbers them).
	Records []feed.Record
	// Snapshot, when HasSnapshot, is the next part of the shard's answer to a snapshot
	// request: sessions the feed has been told are online (KindOnline). A large shard sends
	// its snapshot over several batches; SnapshotDone marks the last part. Parts are taken
	// at different moments, so the writer replays the live records it saw while the
	// snapshot was being assembled after it (records are absolute states: replay is safe).
	Snapshot     []feed.Record
	HasSnapshot  bool
	SnapshotDone bool
	SnapshotGen  uint64 // which Table.RequestSnapshot this part answers
}

// Ready reports whether the batch is waiting for the writer.
func (o *Outbox) Ready() bool { return o.full.Load() }

// Done gives the batch back to the loop. Only the writer calls it, after Ready.
func (o *Outbox) Done() {
	o.Records = o.Records[:0]
	o.Snapshot = o.Snapshot[:0]
	o.HasSnapshot, o.SnapshotDone = false, false
	o.full.Store(false)
}
