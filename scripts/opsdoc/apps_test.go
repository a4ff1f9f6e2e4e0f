package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestAppsGuideExcerptsCompile checks that every Go excerpt in protocol/APPS.md is taken from
// protocol/client/example_test.go (compiled and run by go test): each run of lines between
// "…" markers must appear there as consecutive lines (whitespace and //nolint directives
// aside), so the guide cannot drift from code that compiles.
func TestAppsGuideExcerptsCompile(t *testing.T) {
	guide, err := os.ReadFile(filepath.Join(root, "protocol/APPS.md"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(root, "protocol/client/example_test.go"))
	if err != nil {
		t.Fatal(err)
	}
	code := normLines(string(src))
	blocks := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllStringSubmatch(string(guide), -1)
	if len(blocks) < 5 {
		t.Fatalf("protocol/APPS.md has %d Go excerpts, expected at least 5", len(blocks))
	}
	for _, b := range blocks {
		for _, chunk := range strings.Split(b[1], "…") {
			lines := normLines(chunk)
			if len(lines) > 0 && !containsRun(code, lines) {
				t.Errorf("protocol/APPS.md excerpt not found in protocol/client/example_test.go:\n%s", strings.Join(lines, "\n"))
			}
		}
	}
}

var nolint = regexp.MustCompile(`//nolint:[a-z,]+ ?`)

func normLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		l = strings.Join(strings.Fields(nolint.ReplaceAllString(l, "")), " ")
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

func containsRun(hay, needle []string) bool {
	for i := 0; i+len(needle) <= len(hay); i++ {
		match := true
		for j := range needle {
			if hay[i+j] != needle[j] {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}
