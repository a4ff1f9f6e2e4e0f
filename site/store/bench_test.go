package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"heartline/site/members"
)

// BenchmarkMembersSearch seeds HEARTLINE_BENCH_MEMBERS members (default 20000; the issue's
// scale is 1000000) into a fresh SQLite file, marks a tenth of them online (at most 100k)
// the way the presence follower does (TouchActive + a Keep predicate over the online set),
// then measures pages of 24 for the searches the members page offers. It reports the seed
// time, p50/p99 per search kind, and the process's heap and RSS. Run:
//
//	HEARTLINE_BENCH_MEMBERS=1000000 go test -run '^$' -bench MembersSearch -benchtime 1x ./site/store/
//
// (-benchtime 1x: one seed; each search kind then runs searchRounds times.)
func BenchmarkMembersSearch(b *testing.B) {
	n := 20000
	if v := os.Getenv("HEARTLINE_BENCH_MEMBERS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1000 || n > members.MaxDemo {
			b.Fatalf("HEARTLINE_BENCH_MEMBERS=%q: use 1000..%d", v, members.MaxDemo)
		}
	}
	dir := b.TempDir()
	s, err := Open(context.Background(), Options{DSN: filepath.Join(dir, "bench.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	start, cpu0 := time.Now(), cpuTime()
	var i int
	next := func() (*members.Member, error) { return nil, nil }
	gen := make(chan *members.Member, 1024)
	go func() {
		members.EachDemo(members.DemoOptions{N: n, Seed: 1, PasswordHash: "h", Now: now}, func(m *members.Member) error { gen <- m; return nil }) //nolint:errcheck
		close(gen)
	}()
	next = func() (*members.Member, error) { i++; return <-gen, nil }
	if got, err := s.InsertMembers(ctx, next); err != nil || got != n {
		b.Fatalf("seed: %d, %v", got, err)
	}
	seed, seedCPU := time.Since(start), cpuTime()-cpu0

	online := min(n/10, 100_000)
	set := make(map[uint64]bool, online)
	rng := rand.New(rand.NewPCG(1, 2))
	touch := map[uint64]int64{}
	for len(set) < online {
		id := members.FirstDemoID + uint64(rng.IntN(n))
		set[id] = true
		touch[id] = now.Add(-time.Duration(rng.IntN(3600)) * time.Second).UnixMilli()
	}
	start = time.Now()
	if err := s.TouchActive(ctx, touch); err != nil {
		b.Fatal(err)
	}
	touchTook := time.Since(start)
	keep := func(id uint64) bool { return set[id] }
	y := now.Year()
	kinds := []struct {
		name string
		o    func() SearchOptions
	}{
		{"page1", func() SearchOptions { return SearchOptions{} }},
		{"deep", func() SearchOptions {
			return SearchOptions{After: &Cursor{now.Add(-10 * 24 * time.Hour).UnixMilli(), 1 << 40}}
		}},
		{"online", func() SearchOptions { return SearchOptions{Keep: keep} }},
		{"online_city_gender", func() SearchOptions {
			return SearchOptions{Keep: keep, City: members.Cities()[rng.IntN(15)], Gender: "female"}
		}},
		{"filters_age", func() SearchOptions {
			a := 20 + rng.IntN(15)
			return SearchOptions{City: members.Cities()[rng.IntN(15)], Gender: "male", MinBirthYear: y - a - 2, MaxBirthYear: y - a}
		}},
		{"narrow_age_city", func() SearchOptions {
			a := 22 + rng.IntN(18)
			return SearchOptions{City: members.Cities()[rng.IntN(15)], Gender: "female", MinBirthYear: y - a, MaxBirthYear: y - a}
		}},
		{"recent_24h", func() SearchOptions { return SearchOptions{ActiveSinceMS: now.Add(-24 * time.Hour).UnixMilli()} }},
	}
	const searchRounds = 200
	b.ResetTimer()
	var report []string
	for range b.N {
		report = report[:0]
		for _, k := range kinds {
			lat := make([]time.Duration, 0, searchRounds)
			for range searchRounds {
				o := k.o()
				o.Limit = 24
				t := time.Now()
				res, err := s.Search(ctx, o)
				lat = append(lat, time.Since(t))
				if err != nil || len(res.Members) == 0 {
					b.Fatalf("%s: %d members, %v", k.name, len(res.Members), err)
				}
			}
			slices.Sort(lat)
			p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
			b.ReportMetric(float64(p50.Microseconds())/1000, k.name+"_p50_ms")
			b.ReportMetric(float64(p99.Microseconds())/1000, k.name+"_p99_ms")
			report = append(report, fmt.Sprintf("%s p50 %v p99 %v", k.name, p50, p99))
		}
	}
	b.StopTimer()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss, hwm := procStatus("VmRSS"), procStatus("VmHWM")
	b.ReportMetric(seed.Seconds(), "seed_s")
	b.ReportMetric(seedCPU.Seconds(), "seed_cpu_s")
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap_MiB")
	b.ReportMetric(float64(rss)/1024, "rss_MiB")
	b.Logf("%d members seeded in %v (%.0f/s; CPU %v — on a shared machine the wall time includes waiting for a core); %d online touched in %v; %s; heap %d MiB, RSS %d MiB (peak %d MiB)",
		n, seed.Round(time.Millisecond), float64(n)/seed.Seconds(), seedCPU.Round(time.Millisecond), online, touchTook.Round(time.Millisecond),
		strings.Join(report, "; "), ms.HeapInuse>>20, rss>>10, hwm>>10)
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procStatus reads a kB field of /proc/self/status (0 when unavailable).
func procStatus(field string) int64 {
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
