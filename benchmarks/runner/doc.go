// Command runner is `make bench`: it starts each server (the gateway's ingest path and the
// comparators), drives it with the loadgen, repeats every case -reps times in interleaved
// order (so machine noise hits all cases alike), and writes results.json with every
// sample, ratios against the baselines measured in the same repetition, and the machine
// and method. benchmarks/report turns that file into RESULTS.md and SVG charts.
//
// Map: cases.go (what is measured), exec.go (starting servers and the loadgen),
// results.go (the JSON schema and the statistics), main.go (flags and the run order).
//
// The runner only starts processes, reads their /stats and /proc, and writes files under
// its -out directory; it never imports gateway/, agent/ or site/ code.
package main
