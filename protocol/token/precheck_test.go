package token

import (
	"errors"
	"testing"
	"time"
)

// Precheck refuses what Verify refuses without a MAC, and passes a forged MAC through (only
// Verify catches that).
func TestPrecheckMatchesVerifyWithoutTheMAC(t *testing.T) {
	r := ringWith(t, map[uint16][]byte{1: secretA}, 1)
	good, _, err := r.Issue(Claims{UserID: 9, DeviceID: 1, Expiry: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	b := good.Bytes()
	forged := b
	forged[Size-1] ^= 1
	unknown, _, _ := ringWith(t, map[uint16][]byte{2: secretB}, 2).Issue(Claims{UserID: 9, DeviceID: 1, Expiry: now.Add(time.Hour)})
	ub := unknown.Bytes()
	badVersion := b
	badVersion[0] = 2
	cases := []struct {
		name string
		b    []byte
		at   time.Time
		want error
	}{
		{"valid", b[:], now, nil},
		{"forged MAC passes the cheap checks", forged[:], now, nil},
		{"short", b[:Size-1], now, ErrMalformed},
		{"version", badVersion[:], now, ErrMalformed},
		{"unknown key", ub[:], now, ErrUnknownKey},
		{"expired", b[:], now.Add(time.Hour), ErrExpired},
	}
	for _, tc := range cases {
		if err := r.Precheck(tc.b, tc.at); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = r.Precheck(b[:], now) }); n != 0 {
		t.Fatalf("Precheck allocates %v times", n)
	}
}
