package bitpack

import (
	"encoding/binary"
	"fmt"
	"testing"
)

// Benchmarks on realistic data (the size report's shapes) at one block (128 values) and
// 1024 values. SetBytes counts the raw 8 bytes/value, so MB/s compare across formats.
// BenchmarkBaselineUvarint* measure plain uvarint-per-value in the same run: compare
// ratios, not absolute numbers.
//
//	go test -run '^$' -bench . -benchmem ./protocol/bitpack/

var benchSizes = []int{128, 1024}

func benchSorted(n int) []uint64 { return distinctSorted(newRand(10), n, 10_000_000) }

func benchSigned(n int) []int64 {
	return heartbeatTimestamps(newRand(11), n, 1718234567000, 10_000, 50)
}

// benchUnsorted: the sorted ids shuffled, as ids arrive in practice.
func benchUnsorted(n int) []uint64 {
	vals := benchSorted(n)
	newRand(12).Shuffle(len(vals), func(i, j int) { vals[i], vals[j] = vals[j], vals[i] })
	return vals
}

func BenchmarkAppendSorted(b *testing.B) {
	for _, n := range benchSizes {
		vals := benchSorted(n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			buf := make([]byte, 0, 16*n)
			b.SetBytes(int64(8 * n))
			b.ReportAllocs()
			for b.Loop() {
				buf, _ = AppendSorted(buf[:0], vals)
			}
		})
	}
}

func BenchmarkDecodeSorted(b *testing.B) {
	for _, n := range benchSizes {
		src, _ := AppendSorted(nil, benchSorted(n))
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			dst := make([]uint64, 0, n)
			b.SetBytes(int64(8 * n))
			b.ReportAllocs()
			for b.Loop() {
				dst, _, _ = DecodeSorted(dst[:0], src, n)
			}
		})
	}
}

func BenchmarkAppendUnsorted(b *testing.B) {
	for _, n := range benchSizes {
		vals := benchUnsorted(n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			buf := make([]byte, 0, 16*n)
			b.SetBytes(int64(8 * n))
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendUnsorted(buf[:0], vals)
			}
		})
	}
}

func BenchmarkDecodeUnsorted(b *testing.B) {
	for _, n := range benchSizes {
		src := AppendUnsorted(nil, benchUnsorted(n))
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			dst := make([]uint64, 0, n)
			b.SetBytes(int64(8 * n))
			b.ReportAllocs()
			for b.Loop() {
				dst, _, _ = DecodeUnsorted(dst[:0], src, n)
			}
		})
	}
}

func BenchmarkAppendSigned(b *testing.B) {
	for _, n := range benchSizes {
		vals := benchSigned(n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			buf := make([]byte, 0, 16*n)
			b.SetBytes(int64(8 * n))
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendSigned(buf[:0], vals)
			}
		})
	}
}

func BenchmarkDecodeSigned(b *testing.B) {
	for _, n := range benchSizes {
		src := AppendSigned(nil, benchSigned(n))
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			dst := make([]int64, 0, n)
			b.SetBytes(int64(8 * n))
			b.ReportAllocs()
			for b.Loop() {
				dst, _, _ = DecodeSigned(dst[:0], src, n)
			}
		})
	}
}

// Baseline: the sorted ids as one uvarint per value (no delta, no packing).
func BenchmarkBaselineUvarintAppend(b *testing.B) {
	for _, n := range benchSizes {
		vals := benchSorted(n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			buf := make([]byte, 0, 16*n)
			b.SetBytes(int64(8 * n))
			b.ReportAllocs()
			for b.Loop() {
				buf = buf[:0]
				for _, v := range vals {
					buf = binary.AppendUvarint(buf, v)
				}
			}
		})
	}
}

func BenchmarkBaselineUvarintDecode(b *testing.B) {
	for _, n := range benchSizes {
		var src []byte
		for _, v := range benchSorted(n) {
			src = binary.AppendUvarint(src, v)
		}
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			dst := make([]uint64, 0, n)
			b.SetBytes(int64(8 * n))
			b.ReportAllocs()
			for b.Loop() {
				dst = dst[:0]
				for p := 0; p < len(src); {
					v, k := binary.Uvarint(src[p:])
					if k <= 0 {
						b.Fatal("bad uvarint")
					}
					dst = append(dst, v)
					p += k
				}
			}
		})
	}
}
