package token

import (
	"strings"
	"testing"
)

// The key-file syntax PROTOCOL.md states (Token, "The reference key file"): CRLF or LF,
// tabs or spaces, indented comment lines, hex in any case, decimal ids with leading zeros;
// a trailing comment, a signed id, an odd number of hex digits or `Current` are errors.
func TestKeyFileSyntaxAsSpecified(t *testing.T) {
	upper := strings.ToUpper(hexA)
	mixed := upper[:32] + hexA[32:]
	ok := "\t# comment\r\n  # indented comment\r\n\r\n007\t" + upper + "\r\n8 " + mixed + "\tcurrent\r\n"
	r, err := ParseKeyRing(strings.NewReader(ok))
	if err != nil {
		t.Fatalf("a file the spec allows: %v", err)
	}
	if cur, _ := r.Current(); cur != 8 {
		t.Fatalf("current %d, want 8", cur)
	}
	if ids := r.IDs(); len(ids) != 2 || ids[0] != 7 {
		t.Fatalf("ids %v, want [7 8]", ids)
	}
	for _, bad := range []string{
		"1 " + hexA + " # the first key\n",
		"+1 " + hexA + "\n",
		"1 " + hexA + "0\n",
		"1 " + hexA + " Current\n",
	} {
		if _, err := ParseKeyRing(strings.NewReader(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}
