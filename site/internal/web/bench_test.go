package web

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"heartline/agent/privacywatch"
	"heartline/agent/watcher"
	"heartline/site/internal/auth"
	"heartline/site/internal/live"
	"heartline/site/internal/members"
	"heartline/site/internal/store"
	"heartline/site/internal/visibility"
)

// benchSource is a watcher cache stand-in with a fixed online set.
type benchSource struct{ online map[uint64]int64 }

func (b benchSource) Lookup(u uint64) watcher.Presence {
	if at, ok := b.online[u]; ok {
		return watcher.Presence{User: u, Online: true, Status: 2, Devices: []watcher.Device{{Device: 1, Status: 2, Since: at}}}
	}
	return watcher.Presence{User: u}
}
func (b benchSource) OnlineUsers() int { return len(b.online) }

// BenchmarkMembersPage seeds HEARTLINE_BENCH_MEMBERS demo members (default 20000; the
// issue's scale is 1000000) into a fresh SQLite file with `site seed`'s bulk path, puts a
// tenth of them online (at most 100k; their last-active times moved by TouchActive as the
// presence follower does), and then measures, for each kind of request, the store's
// Search alone and the whole members page (GET /members… through the handler: search,
// presence, likes, template) with a page of 24. It reports seed time (wall and CPU),
// p50/p99 per kind, and the heap and RSS after. Run it once:
//
//	HEARTLINE_BENCH_MEMBERS=1000000 go test -run '^$' -bench MembersPage -benchtime 1x ./site/web/
func BenchmarkMembersPage(b *testing.B) {
	n := 20000
	if v := os.Getenv("HEARTLINE_BENCH_MEMBERS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1000 || n > members.MaxDemo {
			b.Fatalf("HEARTLINE_BENCH_MEMBERS=%q: use 1000..%d", v, members.MaxDemo)
		}
	}
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{DSN: filepath.Join(b.TempDir(), "bench.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	hash, _ := auth.HashPassword("bench-pass-1", cheap)
	start, cpu0 := time.Now(), cpuTime()
	gen := make(chan *members.Member, 4096)
	go func() {
		members.EachDemo(members.DemoOptions{N: n, Seed: 1, PasswordHash: hash, Now: now}, func(m *members.Member) error { gen <- m; return nil }) //nolint:errcheck
		close(gen)
	}()
	if got, err := st.InsertMembers(ctx, func() (*members.Member, error) { return <-gen, nil }); err != nil || got != n {
		b.Fatalf("seed: %d, %v", got, err)
	}
	seed, seedCPU := time.Since(start), cpuTime()-cpu0

	online := min(n/10, 100_000)
	rng := rand.New(rand.NewPCG(1, 2))
	src := benchSource{online: make(map[uint64]int64, online)}
	for len(src.online) < online {
		src.online[members.FirstDemoID+uint64(rng.IntN(n))] = now.Add(-time.Duration(rng.IntN(3600)) * time.Second).UnixMilli()
	}
	start = time.Now()
	if err := st.TouchActive(ctx, src.online); err != nil {
		b.Fatal(err)
	}
	touch := time.Since(start)
	view := privacywatch.NewStatic()
	policy, err := visibility.New(visibility.Options{Store: st, View: view, Records: &visibility.MemoryRecords{View: view}})
	if err != nil {
		b.Fatal(err)
	}
	keys := auth.RandomKeys(false)
	srv, err := New(Options{Store: st, Keys: keys, Hub: live.NewHub(live.Options{Source: src, Privacy: view}), Presence: src, Privacy: policy, HashParams: cheap})
	if err != nil {
		b.Fatal(err)
	}
	// The members page is for signed-in members: the requests carry a viewer's session.
	viewerTok, _, err := st.CreateSession(ctx, members.FirstDemoID, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	viewerCookie := &http.Cookie{Name: keys.SessionName(), Value: keys.SessionValue(viewerTok)}
	cities := members.Cities()
	kinds := []struct {
		name  string
		query func() url.Values
	}{
		{"all", func() url.Values { return url.Values{} }},
		{"online", func() url.Values { return url.Values{"online": {"1"}} }},
		{"online_city_gender", func() url.Values {
			return url.Values{"online": {"1"}, "city": {cities[rng.IntN(len(cities))]}, "gender": {"female"}}
		}},
		{"city_gender_age", func() url.Values {
			a := 22 + rng.IntN(15)
			return url.Values{"city": {cities[rng.IntN(len(cities))]}, "gender": {"male"}, "age_min": {strconv.Itoa(a)}, "age_max": {strconv.Itoa(a + 2)}}
		}},
		{"recent", func() url.Values { return url.Values{"recent": {"1"}} }},
		{"page5", func() url.Values { return url.Values{} }}, // 5th page via keyset cursors
	}
	const rounds = 200
	var report []string
	b.ResetTimer()
	for range b.N {
		report = report[:0]
		for _, k := range kinds {
			var searchLat, pageLat []time.Duration
			for range rounds {
				q := k.query()
				if k.name == "page5" {
					q.Set("after", fifthPageCursor(b, st, src))
				}
				o, _, problem := srv.searchFromQuery(q, now)
				if problem != "" {
					b.Fatalf("%s: %s", k.name, problem)
				}
				t := time.Now()
				res, err := st.Search(ctx, o)
				searchLat = append(searchLat, time.Since(t))
				if err != nil || len(res.Members) == 0 {
					b.Fatalf("%s: %d members, %v", k.name, len(res.Members), err)
				}
				w := httptest.NewRecorder()
				t = time.Now()
				req := httptest.NewRequest("GET", "/members?"+q.Encode(), nil)
				req.AddCookie(viewerCookie)
				srv.ServeHTTP(w, req)
				pageLat = append(pageLat, time.Since(t))
				if w.Code != http.StatusOK {
					b.Fatalf("%s: GET /members?%s: %d", k.name, q.Encode(), w.Code)
				}
			}
			sp50, sp99 := pct(searchLat)
			pp50, pp99 := pct(pageLat)
			b.ReportMetric(ms(pp50), k.name+"_page_p50_ms")
			b.ReportMetric(ms(pp99), k.name+"_page_p99_ms")
			report = append(report, fmt.Sprintf("%s: search p50 %.2f p99 %.2f, page p50 %.2f p99 %.2f ms", k.name, ms(sp50), ms(sp99), ms(pp50), ms(pp99)))
		}
	}
	b.StopTimer()
	runtime.GC()
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	rss, hwm := procStatusKB("VmRSS"), procStatusKB("VmHWM")
	b.ReportMetric(seed.Seconds(), "seed_s")
	b.ReportMetric(float64(mem.HeapInuse)/(1<<20), "heap_MiB")
	b.ReportMetric(float64(rss)/1024, "rss_MiB")
	b.Logf("%d members seeded in %v (%.0f/s; CPU %v — on a shared machine the wall time includes waiting for a core); %d online, TouchActive %v",
		n, seed.Round(time.Millisecond), float64(n)/seed.Seconds(), seedCPU.Round(time.Millisecond), online, touch.Round(time.Millisecond))
	for _, r := range report {
		b.Log(r)
	}
	b.Logf("after the run: heap in use %d MiB, RSS %d MiB (peak %d MiB, including the seed's page cache)", mem.HeapInuse>>20, rss>>10, hwm>>10)
}

// fifthPageCursor follows the unfiltered list's cursors to the start of page 5.
func fifthPageCursor(b *testing.B, st *store.Store, src benchSource) string {
	var after *store.Cursor
	for range 4 {
		res, err := st.Search(context.Background(), store.SearchOptions{After: after, Limit: 24})
		if err != nil || res.Next == nil {
			b.Fatalf("paging: %v", err)
		}
		after = res.Next
	}
	return after.String()
}

func pct(d []time.Duration) (p50, p99 time.Duration) {
	slices.Sort(d)
	return d[len(d)/2], d[len(d)*99/100]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procStatusKB reads a kB field of /proc/self/status (0 when unavailable).
func procStatusKB(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}
