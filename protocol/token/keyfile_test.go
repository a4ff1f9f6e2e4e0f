package token

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	hexA = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	hexB = "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f40"
)

func TestParseKeyRing(t *testing.T) {
	r, err := ParseKeyRing(strings.NewReader("# cluster secrets\n\n 3 " + hexA + "\n4 " + hexB + "  \n"))
	if err != nil {
		t.Fatal(err)
	}
	if cur, ok := r.Current(); !ok || cur != 3 {
		t.Fatalf("first line should be current, got %d %v", cur, ok)
	}
	r, err = ParseKeyRing(strings.NewReader("3 " + hexA + "\n4 " + hexB + " current\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cur, _ := r.Current(); cur != 4 {
		t.Fatalf("marked line should be current, got %d", cur)
	}
	// The loaded secret is the hex-decoded bytes: a token signed by a ring built from the
	// raw bytes verifies against the loaded ring.
	raw := NewKeyRing()
	secret := []byte{}
	for i := 0x20; i <= 0x40; i++ {
		secret = append(secret, byte(i))
	}
	if err := raw.Add(4, secret); err != nil {
		t.Fatal(err)
	}
	tok, _ := raw.Sign(Token{KeyID: 4, UserID: 9, Expiry: uint32(time.Now().Add(time.Hour).Unix())})
	b := tok.Bytes()
	if _, err := r.Verify(b[:], time.Unix(0, 0)); err != nil {
		t.Fatalf("token from raw secret does not verify against the loaded ring: %v", err)
	}
}

func TestParseKeyRingErrors(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"empty", "# nothing\n", "no keys"},
		{"one field", "1\n", "line 1: want"},
		{"bad mark", "1 " + hexA + " primary\n", "line 1: want"},
		{"bad id", "\nx " + hexA + "\n", "line 2: key id"},
		{"id range", "65536 " + hexA + "\n", "line 1: key id"},
		{"bad hex", "1 zz" + hexA + "\n", "not valid hex"},
		{"short", "1 " + hexA[:62] + "\n", "too short"},
		{"dup", "1 " + hexA + "\n1 " + hexB + "\n", "line 2: token: key id 1 is already"},
		{"two current", "1 " + hexA + " current\n2 " + hexB + " current\n", "line 2: key id 2 marked current"},
	}
	for _, c := range cases {
		_, err := ParseKeyRing(strings.NewReader(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to contain %q", c.name, err, c.want)
		}
	}
	if _, err := ParseKeyRing(strings.NewReader("1 " + hexA[:62] + "\n")); !errors.Is(err, ErrWeakSecret) {
		t.Errorf("short secret is not ErrWeakSecret: %v", err)
	}
	if _, err := ParseKeyRing(bytes.NewReader(make([]byte, maxKeyFileSize+1))); err == nil {
		t.Error("oversized file accepted")
	}
}

func TestLoadKeyRing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys")
	if err := os.WriteFile(path, []byte("5 "+hexA+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := LoadKeyRing(path)
	if err != nil {
		t.Fatal(err)
	}
	if cur, _ := r.Current(); cur != 5 {
		t.Fatalf("current %d", cur)
	}
	if _, err := LoadKeyRing(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "open key file") {
		t.Fatalf("missing file: %v", err)
	}
	if err := os.WriteFile(path, []byte("5 nothex\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeyRing(path); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("error does not name file and line: %v", err)
	}
}

func FuzzParseKeyRing(f *testing.F) {
	f.Add("1 " + hexA + "\n")
	f.Add("1 " + hexA + "\n2 " + hexB + " current\n# c\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, in string) {
		r, err := ParseKeyRing(strings.NewReader(in))
		if err != nil {
			return
		}
		if _, ok := r.Current(); !ok || len(r.IDs()) == 0 {
			t.Fatal("accepted a ring without keys or current key")
		}
	})
}
