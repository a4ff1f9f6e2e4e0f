package main

import "heartline/benchmarks/wire"

// gcPauses is one sample's GC pause figures in ns (-1 = not exposed by the server).
type gcPauses struct{ p50, p99, max float64 }

var noPauses = gcPauses{-1, -1, -1}

// readPauses reads the pause figures from a server's /stats or /metrics after a sample.
func readPauses(statsURL string) gcPauses {
	if statsURL == "" {
		return noPauses
	}
	m, err := wire.FetchStats(statsURL)
	if err != nil {
		return noPauses
	}
	return pausesOf(m)
}

func pausesOf(m map[string]uint64) gcPauses {
	p := noPauses
	if v, ok := m[wire.GCPauseP50]; ok {
		p.p50 = float64(v)
	}
	if v, ok := m[wire.GCPauseP99]; ok {
		p.p99 = float64(v)
	}
	if v, ok := m[wire.GCPauseMax]; ok {
		p.max = float64(v)
	}
	return p
}
