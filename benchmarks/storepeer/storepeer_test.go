package main

import (
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"heartline/protocol/presencekv"
)

func TestBatchesRespectOpsAndBytes(t *testing.T) {
	sizes := make([]int, 300)
	for i := range sizes {
		sizes[i] = 100
	}
	sizes[10] = 900 // pushes the first txn over 1000 bytes at op 10
	got := batches(sizes, 128, 1000)
	covered := 0
	for i, r := range got {
		if r[0] != covered {
			t.Fatalf("batch %d starts at %d, want %d (gaps or overlaps)", i, r[0], covered)
		}
		if n := r[1] - r[0]; n < 1 || n > 128 {
			t.Fatalf("batch %d has %d ops", i, n)
		}
		b := 0
		for _, s := range sizes[r[0]:r[1]] {
			b += s
		}
		if b > 1000 && r[1]-r[0] > 1 {
			t.Fatalf("batch %d has %d bytes > 1000", i, b)
		}
		covered = r[1]
	}
	if covered != len(sizes) {
		t.Fatalf("covered %d of %d ops", covered, len(sizes))
	}
	if got[0] != [2]int{0, 10} {
		t.Fatalf("first batch %v, want [0 10] (op 10 does not fit)", got[0])
	}
	if one := batches(sizes[:5], 1, 1<<20); len(one) != 5 {
		t.Fatalf("maxOps 1 gave %d batches for 5 ops", len(one))
	}
	if big := batches([]int{5000}, 128, 1000); len(big) != 1 || big[0] != [2]int{0, 1} {
		t.Fatalf("an op larger than maxBytes must still go alone: %v", big)
	}
}

func TestSummarize(t *testing.T) {
	h := hdrhistogram.New(1, 60_000_000, 3)
	for v := int64(1); v <= 100; v++ {
		_ = h.RecordValue(v * 1000) // 1..100 ms
	}
	p := &Phase{Txns: 100, Ops: 12800}
	summarize(p, 2*time.Second, h, 12800*2000, 12800*2100, 12800*10, 12800*5000)
	if p.OpsPerS != 6400 || p.TxnsPerS != 50 || p.OpsPerTxn != 128 {
		t.Fatalf("rates: %+v", p)
	}
	if p.P50ms < 49.9 || p.P50ms > 50.1 || p.P99ms < 98.9 || p.P99ms > 99.1 || p.Maxms < 99.9 || p.Maxms > 100.1 {
		t.Fatalf("latencies: p50 %v p99 %v max %v", p.P50ms, p.P99ms, p.Maxms)
	}
	if p.ValueBytes != 2000 || p.WireOut != 2100 || p.WireIn != 10 || p.ServerCPUNS != 5000 {
		t.Fatalf("per op: %+v", p)
	}
	empty := &Phase{}
	summarize(empty, 0, nil, 0, 0, 0, 0)
	if empty.OpsPerS != 0 || empty.P99ms != 0 {
		t.Fatalf("an empty phase must stay zero: %+v", empty)
	}
}

func TestBucketValuesDecode(t *testing.T) {
	vals, err := bucketValues(8, 10, 10*8*50, 7)
	if err != nil {
		t.Fatal(err)
	}
	var c presencekv.Codec
	for i, v := range vals {
		ss, err := c.DecodeSessions(nil, v)
		if err != nil {
			t.Fatalf("value %d: %v", i, err)
		}
		if len(ss) == 0 || len(ss) > 50 {
			t.Fatalf("value %d holds %d sessions, want 1..50", i, len(ss))
		}
	}
}
