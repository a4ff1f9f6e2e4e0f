package activity

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"heartline/agent/watcher"
	"heartline/site/internal/members"
	"heartline/site/internal/store"
)

func TestFollowerMovesActivityToTransitions(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{DSN: filepath.Join(t.TempDir(), "a.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	var ids []uint64
	for _, e := range []string{"a@example.com", "b@example.com"} {
		m := &members.Member{Email: e, PasswordHash: "h", Nickname: "晴天", Gender: "male", BirthYear: 1990, City: "北京", CreatedAt: t0, Verified: true, LastActive: t0.UnixMilli()}
		if err := st.CreateMember(ctx, m); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	f := New(st, nil)
	later := t0.Add(time.Hour).UnixMilli()
	f.Note(watcher.Event{Type: watcher.EventOnline, User: ids[1], At: later})
	f.Note(watcher.Event{Type: watcher.EventOffline, User: ids[1], At: later - 5}) // older: ignored
	f.Note(watcher.Event{Type: watcher.EventOnline, User: ids[0], At: 0})          // no time: ignored
	if f.Pending() != 1 {
		t.Fatalf("pending %d, want 1", f.Pending())
	}
	if err := f.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := st.Search(ctx, store.SearchOptions{})
	if err != nil || len(res.Members) != 2 || res.Members[0].ID != ids[1] || res.Members[0].LastActive != later {
		t.Fatalf("after flush the member who came online is not first: %+v %v", res.Members, err)
	}
	// Run drains a channel and flushes when it closes.
	c := make(chan watcher.Event, 1)
	c <- watcher.Event{Type: watcher.EventOnline, User: ids[0], At: later + 1}
	close(c)
	f.Run(ctx, c, time.Hour)
	if m, _ := st.MemberByID(ctx, ids[0]); m.LastActive != later+1 {
		t.Fatalf("Run did not flush on close: %d", m.LastActive)
	}
}
