package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"heartline/scripts/pgtest"
	"heartline/site/internal/members"
)

// The same suite runs against embedded SQLite and a real PostgreSQL server.

type clock struct{ ms atomic.Int64 }

func (c *clock) now() time.Time          { return time.UnixMilli(c.ms.Load()).UTC() }
func (c *clock) advance(d time.Duration) { c.ms.Add(d.Milliseconds()) }

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// env is one case's store plus a way to open the same database again.
type env struct {
	s      *Store
	clk    *clock
	reopen func() *Store
}

type suiteCase struct {
	name string
	f    func(t *testing.T, e *env)
}

var suite = []suiteCase{
	{"Migrations", testMigrations},
	{"CreateMemberAndDuplicates", testCreateMember},
	{"ConcurrentDuplicateSignups", testConcurrentSignups},
	{"SQLLookingInput", testSQLLookingInput},
	{"Sessions", testSessions},
	{"VerificationAndOutbox", testVerification},
	{"Photos", testPhotos},
	{"LikesMatchesBlocks", testLikes},
	{"SearchFiltersAndKeysetPages", testSearch},
	{"SearchKeepPredicate", testSearchKeep},
	{"InsertMembersInBatches", testInsertMembers},
	{"ProfileEdits", testProfile},
}

func TestStore(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		for _, c := range suite {
			t.Run(c.name, func(t *testing.T) {
				dsn := filepath.Join(t.TempDir(), "site.db")
				c.f(t, newEnv(t, dsn))
			})
		}
	})
	t.Run("postgres", func(t *testing.T) {
		srv := pgtest.Start(t)
		for _, c := range suite {
			t.Run(c.name, func(t *testing.T) { c.f(t, newEnv(t, srv.NewDatabase(t))) })
		}
	})
}

func newEnv(t *testing.T, dsn string) *env {
	clk := &clock{}
	clk.ms.Store(t0.UnixMilli())
	open := func() *Store {
		s, err := Open(context.Background(), Options{DSN: dsn, Now: clk.now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	return &env{s: open(), clk: clk, reopen: open}
}

var ctx = context.Background()

func member(email string) *members.Member {
	return &members.Member{Email: email, PasswordHash: "h", Nickname: "晴天", Gender: "female", BirthYear: 1995, City: "杭州",
		CreatedAt: t0, Verified: true, LastActive: t0.UnixMilli()}
}

func testMigrations(t *testing.T, e *env) {
	ms, err := loadMigrations(e.s.Engine())
	if err != nil {
		t.Fatal(err)
	}
	v, err := e.s.SchemaVersion(ctx)
	if err != nil || v != len(ms) || v == 0 {
		t.Fatalf("schema version %d (%v), want %d", v, err, len(ms))
	}
	if err := e.s.CreateMember(ctx, member("keep@example.com")); err != nil {
		t.Fatal(err)
	}
	// Opening again applies nothing twice and keeps the data.
	s2 := e.reopen()
	if v2, _ := s2.SchemaVersion(ctx); v2 != v {
		t.Fatalf("reopened at version %d, want %d", v2, v)
	}
	if _, err := s2.MemberByEmail(ctx, "keep@example.com"); err != nil {
		t.Fatalf("member lost across reopen: %v", err)
	}
	// A database from a newer binary is refused, not downgraded.
	if _, err := e.s.db.Exec(e.s.q(`INSERT INTO schema_migrations (version, name, applied_ms) VALUES (?, 'future', 0)`), v+1); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, Options{DSN: dsnOf(t, e)}); err == nil {
		t.Fatal("opened a database with a newer schema version")
	}
}

// dsnOf recovers the DSN of e's database by reopening through e (SQLite path or PG URL).
func dsnOf(t *testing.T, e *env) string {
	t.Helper()
	if e.s.Engine() == Postgres {
		var db, port string
		if err := e.s.db.QueryRow(`SELECT current_database(), current_setting('port')`).Scan(&db, &port); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("postgres://postgres@127.0.0.1:%s/%s?sslmode=disable", port, db)
	}
	var seq int
	var name, file string
	if err := e.s.db.QueryRow(`PRAGMA database_list`).Scan(&seq, &name, &file); err != nil {
		t.Fatal(err)
	}
	return file
}

func testCreateMember(t *testing.T, e *env) {
	a, b := member("New@Example.com"), member("other@example.com")
	if err := e.s.CreateMember(ctx, a); err != nil || a.ID != members.FirstSignupID {
		t.Fatalf("first sign-up: id %d, %v", a.ID, err)
	}
	if err := e.s.CreateMember(ctx, b); err != nil || b.ID != members.FirstSignupID+1 {
		t.Fatalf("second sign-up: id %d, %v", b.ID, err)
	}
	dup := member(" new@example.COM ")
	if err := e.s.CreateMember(ctx, dup); !errors.Is(err, ErrEmailTaken) {
		t.Fatalf("duplicate (other case): %v", err)
	}
	got, err := e.s.MemberByEmail(ctx, "NEW@example.com")
	if err != nil || got.ID != a.ID || got.Nickname != "晴天" || !got.CreatedAt.Equal(t0) || !got.Verified {
		t.Fatalf("by e-mail: %+v %v", got, err)
	}
	if _, err := e.s.MemberByID(ctx, 42); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	if n, _ := e.s.CountMembers(ctx); n != 2 {
		t.Fatalf("count %d, want 2", n)
	}
}

func testConcurrentSignups(t *testing.T, e *env) {
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	ids := make([]uint64, n)
	for i := range n {
		wg.Add(2)
		go func() { // same address from n browsers
			defer wg.Done()
			m := member("race@example.com")
			errs[i] = e.s.CreateMember(ctx, m)
		}()
		go func() { // distinct addresses at the same time
			defer wg.Done()
			m := member(fmt.Sprintf("u%d@example.com", i))
			if err := e.s.CreateMember(ctx, m); err != nil {
				t.Errorf("distinct sign-up %d: %v", i, err)
			}
			ids[i] = m.ID
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrEmailTaken):
			t.Errorf("racing duplicate failed with %v, want ErrEmailTaken", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d racing sign-ups for one address succeeded, want exactly 1", ok, n)
	}
	seen := map[uint64]bool{}
	for _, id := range ids {
		if id == 0 || seen[id] {
			t.Fatalf("ids %v: zero or repeated", ids)
		}
		seen[id] = true
	}
	if c, _ := e.s.CountMembers(ctx); c != n+1 {
		t.Fatalf("%d members stored, want %d", c, n+1)
	}
}

func testSQLLookingInput(t *testing.T, e *env) {
	evil := member("o'brien@example.com")
	evil.Nickname = `Robert'); DROP TABLE members;--`
	evil.Bio = `" OR 1=1 -- ? $1 %`
	if err := e.s.CreateMember(ctx, evil); err != nil {
		t.Fatal(err)
	}
	got, err := e.s.MemberByEmail(ctx, "o'brien@example.com")
	if err != nil || got.Nickname != evil.Nickname || got.Bio != evil.Bio {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	res, err := e.s.Search(ctx, SearchOptions{City: `杭州' OR '1'='1`})
	if err != nil || len(res.Members) != 0 {
		t.Fatalf("injection-looking city matched %d members (%v)", len(res.Members), err)
	}
	if _, err := e.s.MemberByEmail(ctx, `x' OR '1'='1`); !errors.Is(err, ErrNotFound) {
		t.Fatalf("injection-looking e-mail: %v", err)
	}
	if n, _ := e.s.CountMembers(ctx); n != 1 {
		t.Fatalf("count %d after SQL-looking input", n)
	}
}

func testSessions(t *testing.T, e *env) {
	m := member("s@example.com")
	if err := e.s.CreateMember(ctx, m); err != nil {
		t.Fatal(err)
	}
	a, exp, err := e.s.CreateSession(ctx, m.ID, time.Hour)
	if err != nil || !exp.Equal(t0.Add(time.Hour)) {
		t.Fatalf("session: exp %v %v", exp, err)
	}
	b, _, _ := e.s.CreateSession(ctx, m.ID, time.Hour)
	c, _, _ := e.s.CreateSession(ctx, m.ID, time.Hour)
	if got, err := e.s.SessionMember(ctx, a); err != nil || got.ID != m.ID {
		t.Fatalf("lookup: %v %v", got, err)
	}
	for _, bad := range []string{"", "nope", a + "x"} {
		if _, err := e.s.SessionMember(ctx, bad); !errors.Is(err, ErrNotFound) {
			t.Fatalf("token %q: %v", bad, err)
		}
	}
	// logout revokes exactly that session
	if err := e.s.DeleteSession(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.SessionMember(ctx, a); !errors.Is(err, ErrNotFound) {
		t.Fatalf("logged-out session still valid: %v", err)
	}
	// a password change keeps the current session and ends the others
	if err := e.s.ChangePassword(ctx, m.ID, "h2", b); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.SessionMember(ctx, b); err != nil {
		t.Fatalf("current session ended by the password change: %v", err)
	}
	if _, err := e.s.SessionMember(ctx, c); !errors.Is(err, ErrNotFound) {
		t.Fatalf("other session survived the password change: %v", err)
	}
	if got, _ := e.s.MemberByID(ctx, m.ID); got.PasswordHash != "h2" {
		t.Fatalf("hash %q", got.PasswordHash)
	}
	// log out everywhere
	d, _, _ := e.s.CreateSession(ctx, m.ID, time.Hour)
	if n, err := e.s.DeleteSessions(ctx, m.ID, ""); err != nil || n != 2 {
		t.Fatalf("log out everywhere ended %d (%v), want 2", n, err)
	}
	for _, tok := range []string{b, d} {
		if _, err := e.s.SessionMember(ctx, tok); !errors.Is(err, ErrNotFound) {
			t.Fatal("session survived log out everywhere")
		}
	}
	// expiry, on the store's clock
	f, _, _ := e.s.CreateSession(ctx, m.ID, time.Minute)
	e.clk.advance(time.Minute)
	if _, err := e.s.SessionMember(ctx, f); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expired session valid: %v", err)
	}
	if n, err := e.s.PurgeExpiredSessions(ctx); err != nil || n != 1 {
		t.Fatalf("purged %d (%v), want 1", n, err)
	}
}

var tokenInBody = regexp.MustCompile(`token=([A-Za-z0-9_-]+)`)

func testVerification(t *testing.T, e *env) {
	m := member("v@example.com")
	m.Verified = false
	err := e.s.CreateMemberTx(ctx, m, func(tx *sql.Tx) error {
		return e.s.EnqueueVerification(ctx, tx, m.ID, m.Email, time.Hour, "请验证邮箱", func(tok string) string { return "http://site/verify?token=" + tok })
	})
	if err != nil {
		t.Fatal(err)
	}
	// unverified members are not listed
	if n, _ := e.s.CountMembers(ctx); n != 0 {
		t.Fatalf("unverified member counted")
	}
	mails, err := e.s.PendingMail(ctx, 10)
	if err != nil || len(mails) != 1 || mails[0].To != "v@example.com" {
		t.Fatalf("outbox: %+v %v", mails, err)
	}
	tok := tokenInBody.FindStringSubmatch(mails[0].Body)[1]
	// a failure in the same transaction stores neither member nor mail
	bad := member("w@example.com")
	if err := e.s.CreateMemberTx(ctx, bad, func(*sql.Tx) error { return errors.New("boom") }); err == nil {
		t.Fatal("failed transaction reported success")
	}
	if _, err := e.s.MemberByEmail(ctx, "w@example.com"); !errors.Is(err, ErrNotFound) {
		t.Fatal("member of a rolled-back sign-up exists")
	}
	if id, err := e.s.Verify(ctx, tok); err != nil || id != m.ID {
		t.Fatalf("verify: %d %v", id, err)
	}
	if got, _ := e.s.MemberByID(ctx, m.ID); !got.Verified {
		t.Fatal("not verified")
	}
	if _, err := e.s.Verify(ctx, tok); !errors.Is(err, ErrNotFound) {
		t.Fatalf("token used twice: %v", err)
	}
	// sending
	if err := e.s.MarkFailed(ctx, mails[0].ID, errors.New("smtp: 451")); err != nil {
		t.Fatal(err)
	}
	if p, _ := e.s.PendingMail(ctx, 10); len(p) != 1 || p[0].Attempts != 1 || p[0].LastError != "smtp: 451" {
		t.Fatalf("after a failure: %+v", p)
	}
	if err := e.s.MarkSent(ctx, mails[0].ID); err != nil {
		t.Fatal(err)
	}
	if p, _ := e.s.PendingMail(ctx, 10); len(p) != 0 {
		t.Fatalf("sent mail still pending")
	}
	if r, _ := e.s.RecentMail(ctx, 10); len(r) != 1 || r[0].SentAt.IsZero() {
		t.Fatalf("recent: %+v", r)
	}
	// expired token
	m2 := member("x@example.com")
	m2.Verified = false
	e.s.CreateMemberTx(ctx, m2, func(tx *sql.Tx) error { //nolint:errcheck
		return e.s.EnqueueVerification(ctx, tx, m2.ID, m2.Email, time.Minute, "s", func(tok string) string { return "token=" + tok })
	})
	p, _ := e.s.PendingMail(ctx, 10)
	e.clk.advance(time.Minute)
	if _, err := e.s.Verify(ctx, tokenInBody.FindStringSubmatch(p[0].Body)[1]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expired token: %v", err)
	}
}

func testPhotos(t *testing.T, e *env) {
	p := Photo{Name: "abc.png", ContentType: "image/png", Data: []byte{0x89, 'P', 'N', 'G', 0}}
	for range 2 {
		if err := e.s.PutPhoto(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	got, err := e.s.PhotoByName(ctx, "abc.png")
	if err != nil || string(got.Data) != string(p.Data) || got.ContentType != "image/png" {
		t.Fatalf("photo: %+v %v", got, err)
	}
	if _, err := e.s.PhotoByName(ctx, "nope.png"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	m := member("p@example.com")
	e.s.CreateMember(ctx, m) //nolint:errcheck
	if err := e.s.SetPhoto(ctx, m.ID, "abc.png"); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.s.MemberByID(ctx, m.ID); got.Photo != "abc.png" {
		t.Fatalf("photo %q", got.Photo)
	}
}

func testLikes(t *testing.T, e *env) {
	a, b, c := member("a@example.com"), member("b@example.com"), member("c@example.com")
	for _, m := range []*members.Member{a, b, c} {
		if err := e.s.CreateMember(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if match, err := e.s.Like(ctx, a.ID, b.ID); err != nil || match {
		t.Fatalf("first like: match=%v %v", match, err)
	}
	if match, err := e.s.Like(ctx, a.ID, b.ID); err != nil || match {
		t.Fatalf("repeated like: match=%v %v", match, err)
	}
	e.s.Like(ctx, a.ID, c.ID) //nolint:errcheck
	if match, err := e.s.Like(ctx, b.ID, a.ID); err != nil || !match {
		t.Fatalf("mutual like: match=%v %v", match, err)
	}
	ms, err := e.s.Matches(ctx, a.ID, 10)
	if err != nil || len(ms) != 1 || ms[0].ID != b.ID {
		t.Fatalf("a's matches: %v %v", ms, err)
	}
	if ms, _ := e.s.Matches(ctx, c.ID, 10); len(ms) != 0 {
		t.Fatalf("c has matches without liking anyone")
	}
	liked, err := e.s.LikedAmong(ctx, a.ID, []uint64{b.ID, c.ID, 7})
	if err != nil || !liked[b.ID] || !liked[c.ID] || liked[7] {
		t.Fatalf("liked among: %v %v", liked, err)
	}
	if _, err := e.s.Like(ctx, a.ID, a.ID); err == nil {
		t.Fatal("liked oneself")
	}
	if _, err := e.s.Like(ctx, a.ID, 999); !errors.Is(err, ErrNotFound) {
		t.Fatalf("like of unknown member: %v", err)
	}
	if err := e.s.Unlike(ctx, b.ID, a.ID); err != nil {
		t.Fatal(err)
	}
	if m, err := e.s.MatchedAmong(ctx, a.ID, []uint64{b.ID, c.ID}); err != nil || len(m) != 0 {
		t.Fatalf("matched among after the unlike: %v %v", m, err)
	}
	if _, err := e.s.Like(ctx, b.ID, a.ID); err != nil {
		t.Fatal(err)
	}
	if m, err := e.s.MatchedAmong(ctx, b.ID, []uint64{a.ID, c.ID, 7}); err != nil || !m[a.ID] || len(m) != 1 {
		t.Fatalf("matched among: %v %v", m, err)
	}
	if err := e.s.Unlike(ctx, b.ID, a.ID); err != nil {
		t.Fatal(err)
	}
	if ms, _ := e.s.Matches(ctx, a.ID, 10); len(ms) != 0 {
		t.Fatal("match survived an unlike")
	}
	if err := e.s.Block(ctx, a.ID, c.ID); err != nil {
		t.Fatal(err)
	}
	if bl, err := e.s.BlockersAmong(ctx, c.ID, []uint64{a.ID, b.ID}); err != nil || !bl[a.ID] || len(bl) != 1 {
		t.Fatalf("blockers among: %v %v", bl, err)
	}
	if bl, _ := e.s.BlockersAmong(ctx, a.ID, []uint64{c.ID}); len(bl) != 0 {
		t.Fatal("blockers among is not directional")
	}
	// The blocked member no longer finds the blocker; others still do.
	for _, tc := range []struct {
		viewer uint64
		sees   bool
	}{{c.ID, false}, {b.ID, true}} {
		res, err := e.s.Search(ctx, SearchOptions{Limit: 1000, HiddenFrom: tc.viewer})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, m := range res.Members {
			found = found || m.ID == a.ID
		}
		if found != tc.sees {
			t.Errorf("viewer %d finds the blocker: %v, want %v", tc.viewer, found, tc.sees)
		}
	}
	if blk, _ := e.s.Blocked(ctx, a.ID, c.ID); !blk {
		t.Fatal("block not stored")
	}
	if blk, _ := e.s.Blocked(ctx, c.ID, a.ID); blk {
		t.Fatal("block is not directional")
	}
	if err := e.s.SetPresenceVisibility(ctx, a.ID, members.VisibleToMatches); err != nil {
		t.Fatal(err)
	}
	if err := e.s.SetPresenceVisibility(ctx, a.ID, "everyone"); err == nil {
		t.Fatal("unknown visibility accepted")
	}
	if got, _ := e.s.MemberByID(ctx, a.ID); got.PresenceVisibility != members.VisibleToMatches {
		t.Fatalf("visibility %q", got.PresenceVisibility)
	}
	if h, err := e.s.HiddenMembers(ctx); err != nil || len(h) != 1 || h[a.ID] != members.VisibleToMatches {
		t.Fatalf("hidden members: %v %v", h, err)
	}
}

// seedDemo inserts n demo members through InsertMembers.
func seedDemo(t testing.TB, s *Store, n int) {
	t.Helper()
	ch := make(chan *members.Member, 64)
	go func() {
		members.EachDemo(members.DemoOptions{N: n, Seed: 7, PasswordHash: "h", Now: t0}, func(m *members.Member) error { ch <- m; return nil }) //nolint:errcheck
		close(ch)
	}()
	got, err := s.InsertMembers(ctx, func() (*members.Member, error) { return <-ch, nil })
	if err != nil || got != n {
		t.Fatalf("inserted %d (%v), want %d", got, err, n)
	}
}

func testSearch(t *testing.T, e *env) {
	seedDemo(t, e.s, 300)
	all := map[uint64]bool{}
	var after *Cursor
	prev := int64(1 << 62)
	for pages := 0; ; pages++ {
		res, err := e.s.Search(ctx, SearchOptions{Gender: "female", City: "北京", MinBirthYear: 1990, MaxBirthYear: 2004, After: after, Limit: 7})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range res.Members {
			if m.Gender != "female" || m.City != "北京" || m.BirthYear < 1990 || m.BirthYear > 2004 {
				t.Fatalf("member %d does not match the filter: %s %s %d", m.ID, m.Gender, m.City, m.BirthYear)
			}
			if all[m.ID] {
				t.Fatalf("member %d on two pages", m.ID)
			}
			if m.LastActive > prev {
				t.Fatalf("not sorted by activity")
			}
			all[m.ID], prev = true, m.LastActive
		}
		if res.Next == nil {
			break
		}
		c, err := ParseCursor(res.Next.String())
		if err != nil || c != *res.Next {
			t.Fatalf("cursor round trip %v -> %v (%v)", res.Next, c, err)
		}
		after = &c
		if pages > 100 {
			t.Fatal("pagination does not end")
		}
	}
	// the pages together are exactly the matching members
	want := 0
	for id := members.FirstDemoID; id < members.FirstDemoID+300; id++ {
		m, _ := e.s.MemberByID(ctx, id)
		if m.Gender == "female" && m.City == "北京" && m.BirthYear >= 1990 && m.BirthYear <= 2004 {
			want++
			if !all[id] {
				t.Fatalf("member %d matches but was on no page", id)
			}
		}
	}
	if want == 0 || len(all) != want {
		t.Fatalf("pages held %d members, %d match", len(all), want)
	}
	// recently active, and TouchActive never moves activity back
	since := t0.Add(-24 * time.Hour).UnixMilli()
	touchChunk = 1 // every member in its own transaction: the chunking loop is exercised
	err := e.s.TouchActive(ctx, map[uint64]int64{members.FirstDemoID: t0.UnixMilli() + 5, members.FirstDemoID + 1: 1, members.FirstDemoID + 2: t0.UnixMilli() + 4})
	touchChunk = 4096
	if err != nil {
		t.Fatal(err)
	}
	res, _ := e.s.Search(ctx, SearchOptions{ActiveSinceMS: since, Limit: 300})
	if len(res.Members) < 2 || res.Members[0].ID != members.FirstDemoID || res.Members[1].ID != members.FirstDemoID+2 {
		t.Fatalf("the members just active are not first")
	}
	for _, m := range res.Members {
		if m.LastActive < since {
			t.Fatalf("member %d active at %d, before %d", m.ID, m.LastActive, since)
		}
	}
	if m, _ := e.s.MemberByID(ctx, members.FirstDemoID+1); m.LastActive == 1 {
		t.Fatal("TouchActive moved activity back")
	}
	if _, err := ParseCursor("1.x"); err == nil {
		t.Fatal("bad cursor parsed")
	}
}

func testSearchKeep(t *testing.T, e *env) {
	seedDemo(t, e.s, 400)
	online := func(id uint64) bool { return id%10 == 3 } // 40 "online"
	got := map[uint64]bool{}
	var after *Cursor
	for range 50 {
		res, err := e.s.Search(ctx, SearchOptions{Keep: online, After: after, Limit: 6, ScanBudget: 150})
		if err != nil {
			t.Fatal(err)
		}
		if res.Scanned > 150+6*4 {
			t.Fatalf("scanned %d candidates, budget 150", res.Scanned)
		}
		for _, m := range res.Members {
			if !online(m.ID) || got[m.ID] {
				t.Fatalf("member %d offline or repeated", m.ID)
			}
			got[m.ID] = true
		}
		if res.Next == nil {
			break
		}
		after = res.Next
	}
	if len(got) != 40 {
		t.Fatalf("found %d online members, want 40", len(got))
	}
}

func testInsertMembers(t *testing.T, e *env) {
	indexes := func() int {
		if e.s.Engine() != SQLite {
			return 0
		}
		var n int
		e.s.db.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'members'`).Scan(&n) //nolint:errcheck
		return n
	}
	before := indexes()
	seedDemo(t, e.s, 1000)
	if after := indexes(); after != before {
		t.Fatalf("members has %d indexes after a bulk load, %d before", after, before)
	}
	if n, _ := e.s.CountMembers(ctx); n != 1000 {
		t.Fatalf("count %d", n)
	}
	m, err := e.s.MemberByEmail(ctx, members.DemoEmail(members.FirstDemoID+999))
	if err != nil || len(m.Interests) != 3 || !m.Demo {
		t.Fatalf("last demo member: %+v %v", m, err)
	}
	// seeding again collides and says so, adding nothing
	ch := make(chan *members.Member, 1)
	ch <- member(members.DemoEmail(members.FirstDemoID))
	close(ch)
	if _, err := e.s.InsertMembers(ctx, func() (*members.Member, error) { return <-ch, nil }); err == nil {
		t.Fatal("duplicate seed accepted")
	}
	// sign-ups continue above the demo range
	s := member("after@example.com")
	if err := e.s.CreateMember(ctx, s); err != nil || s.ID != members.FirstSignupID {
		t.Fatalf("sign-up after seed: %d %v", s.ID, err)
	}
}

func testProfile(t *testing.T, e *env) {
	m := member("e@example.com")
	e.s.CreateMember(ctx, m) //nolint:errcheck
	p := members.Profile{Nickname: "新名字", City: "成都", Education: "硕士", Occupation: "教师", Bio: "你好", HeightCM: 170, Interests: []string{"徒步", "猫"}}
	if err := e.s.UpdateProfile(ctx, m.ID, p); err != nil {
		t.Fatal(err)
	}
	got, _ := e.s.MemberByID(ctx, m.ID)
	if got.Nickname != "新名字" || got.City != "成都" || got.HeightCM != 170 || len(got.Interests) != 2 || got.Email != "e@example.com" {
		t.Fatalf("after edit: %+v", got)
	}
	if err := e.s.UpdateProfile(ctx, 12345, p); !errors.Is(err, ErrNotFound) {
		t.Fatalf("edit of unknown member: %v", err)
	}
}
