package live

import (
	"strings"
	"testing"
)

// FuzzParseIDs: the id-list decoder never panics, returns at most max distinct non-zero
// ids, and rejects with an error rather than truncating.
func FuzzParseIDs(f *testing.F) {
	for _, s := range []string{"1,2,3", "", "0", "1,,2", "18446744073709551615", "18446744073709551616", " 5 , 5", strings.Repeat("9,", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ids, err := ParseIDs(s, 200)
		if err != nil {
			if ids != nil {
				t.Fatal("ids returned with an error")
			}
			return
		}
		if len(ids) > 200 {
			t.Fatalf("%d ids", len(ids))
		}
		seen := map[uint64]bool{}
		for _, id := range ids {
			if id == 0 || seen[id] {
				t.Fatalf("id %d zero or duplicate", id)
			}
			seen[id] = true
		}
		if s != "" && len(ids) == 0 {
			t.Fatalf("%q accepted as no ids", s)
		}
	})
}
