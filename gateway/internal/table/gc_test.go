package table

import (
	"runtime"
	"testing"
	"time"
)

// BenchmarkGCWithOneMillionSessions measures a full GC cycle while the table holds 1M
// sessions. Session and the index hold no pointers, so the collector does not scan them:
// the cycle cost should not grow with the table (compare with -benchtime on an empty heap).
//
//	go test -run XXX -bench GC -benchtime 20x ./gateway/table
func BenchmarkGCWithOneMillionSessions(b *testing.B) {
	const n = 1 << 20
	tb := newTestTable(b, 2, n/2)
	for i := 0; i < n; i++ {
		tb.Shard(i&1).Hello(HelloParams{User: uint64(i), Device: 1, Stamp: 1}, 0)
	}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	pause0, gc0 := ms.PauseTotalNs, ms.NumGC
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		runtime.GC()
	}
	el := time.Since(start)
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(el.Microseconds())/float64(b.N), "us/gc-cycle")
	b.ReportMetric(float64(ms.PauseTotalNs-pause0)/float64(ms.NumGC-gc0)/1000, "us-stw-pause/gc")
	b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "heap-MiB")
	runtime.KeepAlive(tb)
}
