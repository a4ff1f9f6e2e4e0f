// Command report turns the runner's results.json into benchmarks/RESULTS.md and SVG charts
// (hand-written SVG: no external service, no dependency). It only reads the JSON and writes
// the report files; every number in the report comes from the JSON.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	in := flag.String("in", "benchmarks/out/results.json", "results JSON from the runner")
	presenceIn := flag.String("presence-in", "", "a benchmarks/presence JSON that replaces the one in -in (a re-run of that group alone)")
	storesIn := flag.String("stores-in", "", "a benchmarks/storepeer JSON that replaces the one in -in (a re-run of the stores group alone)")
	extra := flag.String("rss-in", "", "comma-separated further results JSON whose rss cases are added (e.g. a separate 10M-session run)")
	md := flag.String("md", "benchmarks/RESULTS.md", "report to write")
	svgDir := flag.String("svg", "benchmarks/charts", "directory for the SVG charts (linked from the report)")
	flag.Parse()
	b, err := os.ReadFile(*in)
	if err != nil {
		fail(fmt.Errorf("%w (run `make bench` first)", err))
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		fail(fmt.Errorf("%s: %w", *in, err))
	}
	if *presenceIn != "" {
		b, err := os.ReadFile(*presenceIn)
		if err != nil {
			fail(err)
		}
		var p Presence
		if err := json.Unmarshal(b, &p); err != nil {
			fail(fmt.Errorf("%s: %w", *presenceIn, err))
		}
		r.Presence = &p
	}
	if *storesIn != "" {
		b, err := os.ReadFile(*storesIn)
		if err != nil {
			fail(err)
		}
		var s Stores
		if err := json.Unmarshal(b, &s); err != nil {
			fail(fmt.Errorf("%s: %w", *storesIn, err))
		}
		r.Stores = &s
	}
	for _, p := range strings.Split(*extra, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		var more Results
		if b, err := os.ReadFile(p); err != nil {
			fmt.Fprintln(os.Stderr, "report: skipping", p+":", err)
			continue
		} else if err := json.Unmarshal(b, &more); err != nil {
			fail(fmt.Errorf("%s: %w", p, err))
		}
		for _, c := range more.Cases {
			if c.Group == "rss" {
				r.Cases = append(r.Cases, c)
			}
		}
	}
	if err := os.MkdirAll(*svgDir, 0o755); err != nil {
		fail(err)
	}
	rel, err := filepath.Rel(filepath.Dir(*md), *svgDir)
	if err != nil {
		rel = *svgDir
	}
	charts := map[string]string{}
	for _, ch := range chartsOf(&r) {
		path := filepath.Join(*svgDir, ch.file)
		if err := os.WriteFile(path, []byte(ch.svg()), 0o644); err != nil {
			fail(err)
		}
		charts[ch.id] = filepath.ToSlash(filepath.Join(rel, ch.file))
	}
	if err := os.WriteFile(*md, []byte(markdown(&r, charts)), 0o644); err != nil {
		fail(err)
	}
	fmt.Fprintf(os.Stderr, "wrote %s and %d charts in %s\n", *md, len(charts), *svgDir)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "report:", err)
	os.Exit(1)
}
