package visibility

import (
	"context"
	"sync"

	"heartline/agent/privacywatch"
	"heartline/protocol/privacy"
)

// MemoryRecords keeps privacy records in memory and applies each change to a static view
// (privacywatch.NewStatic) at once: for fast unit tests of the site. The Consul path
// (privacywatch.Writer and View) is what the site runs, and what its process tests use.
type MemoryRecords struct {
	View *privacywatch.View

	mu    sync.Mutex
	recs  map[uint32]*privacy.Record
	index uint64
}

// Update implements Records.
func (m *MemoryRecords) Update(_ context.Context, subject uint64, change func(r *privacy.Record)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.recs == nil {
		m.recs = map[uint32]*privacy.Record{}
	}
	b := privacy.RecordBucket(subject)
	old := m.recs[b]
	if old == nil {
		old = &privacy.Record{}
	}
	// Work on a decoded copy: the view keeps the maps of the record it was given.
	next, err := privacy.DecodeRecord(old.Append(nil))
	if err != nil {
		return err
	}
	change(next)
	m.recs[b] = next
	m.index++
	m.View.Apply(b, next, m.index)
	return nil
}
