package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"sync"
	"testing"
	"time"
)

var (
	secretA = []byte("0123456789abcdef0123456789abcdef") // 32 bytes
	secretB = []byte("a second cluster secret, 40 bytes long...")
	now     = time.Unix(1_750_000_000, 0)
)

func ringWith(t testing.TB, keys map[uint16][]byte, current uint16) *KeyRing {
	t.Helper()
	r := NewKeyRing()
	for id, s := range keys {
		if err := r.Add(id, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.SetCurrent(current); err != nil {
		t.Fatal(err)
	}
	return r
}

// referenceHMAC computes the spec's formula directly with crypto/hmac, independently of
// the pooled implementation.
func referenceHMAC(secret []byte, label string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(label))
	m.Write(body)
	return m.Sum(nil)[:16]
}

func TestIssueMatchesSpec(t *testing.T) {
	r := ringWith(t, map[uint16][]byte{7: secretA}, 7)
	tok, sk, err := r.Issue(Claims{UserID: 42, DeviceID: 3, Expiry: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if tok.KeyID != 7 || tok.UserID != 42 || tok.DeviceID != 3 || tok.Expiry != uint32(now.Add(time.Hour).Unix()) {
		t.Fatalf("claims not carried: %+v", tok)
	}
	b := tok.Bytes()
	if want := referenceHMAC(secretA, "heartline/hl1/token\x00", b[:27]); !hmac.Equal(want, tok.MAC[:]) {
		t.Fatalf("MAC %x, spec says %x", tok.MAC, want)
	}
	if want := referenceHMAC(secretA, "heartline/hl1/session-key\x00", b[:27]); !hmac.Equal(want, sk[:]) {
		t.Fatalf("session key %x, spec says %x", sk, want)
	}
	got, sk2, err := r.Open(b[:], now)
	if err != nil || got != tok || sk2 != sk {
		t.Fatalf("Open = %+v %x %v", got, sk2, err)
	}
	tok2, sk3, _ := r.Issue(Claims{UserID: 42, DeviceID: 3, Expiry: now.Add(time.Hour)})
	if tok2.Nonce == tok.Nonce || sk3 == sk {
		t.Fatal("two issues share a nonce or a session key")
	}
}

func TestVerifyOrderAndErrors(t *testing.T) {
	r := ringWith(t, map[uint16][]byte{1: secretA}, 1)
	tok, _, err := r.Issue(Claims{UserID: 1, DeviceID: 1, Expiry: now.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	good := tok.Bytes()
	if _, err := r.Verify(good[:], now.Add(time.Minute-time.Second)); err != nil {
		t.Fatalf("valid one second before expiry: %v", err)
	}
	if _, err := r.Verify(good[:], now.Add(time.Minute)); !errors.Is(err, ErrExpired) {
		t.Fatalf("at expiry: %v, want ErrExpired", err)
	}
	if _, err := r.Verify(good[:Size-1], now); !errors.Is(err, ErrMalformed) {
		t.Fatalf("short: %v", err)
	}
	other := tok
	other.KeyID = 9
	ob := other.Bytes()
	if _, err := r.Verify(ob[:], now); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("unknown key: %v", err)
	}
	// Every single-bit flip is rejected; the MAC is checked before expiry, so a forged
	// token is ErrBadMAC even when it is also expired.
	for bit := 0; bit < Size*8; bit++ {
		b := good
		b[bit/8] ^= 1 << (bit % 8)
		_, err := r.Verify(b[:], now.Add(24*time.Hour))
		switch {
		case bit < 8:
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("bit %d (version): %v", bit, err)
			}
		case bit < 24:
			if !errors.Is(err, ErrUnknownKey) {
				t.Fatalf("bit %d (key id): %v", bit, err)
			}
		default:
			if !errors.Is(err, ErrBadMAC) {
				t.Fatalf("bit %d: %v, want ErrBadMAC", bit, err)
			}
		}
		if !IsAuthError(err) {
			t.Fatalf("bit %d: IsAuthError(%v) = false", bit, err)
		}
	}
	// Same fields, different secret: bad MAC.
	r2 := ringWith(t, map[uint16][]byte{1: secretB}, 1)
	if _, err := r2.Verify(good[:], now); !errors.Is(err, ErrBadMAC) {
		t.Fatalf("wrong secret: %v", err)
	}
}

func TestRotation(t *testing.T) {
	r := ringWith(t, map[uint16][]byte{1: secretA}, 1)
	c := Claims{UserID: 5, DeviceID: 6, Expiry: now.Add(time.Hour)}
	old, _, _ := r.Issue(c)
	if err := r.Add(1, secretB); err == nil {
		t.Fatal("re-adding id 1 with another secret succeeded")
	}
	if err := r.Add(2, secretA[:31]); !errors.Is(err, ErrWeakSecret) {
		t.Fatalf("31-byte secret: %v", err)
	}
	if err := r.SetCurrent(2); err == nil {
		t.Fatal("SetCurrent to a missing id succeeded")
	}
	if err := r.Add(2, secretB); err != nil {
		t.Fatal(err)
	}
	if err := r.SetCurrent(2); err != nil {
		t.Fatal(err)
	}
	fresh, _, _ := r.Issue(c)
	if fresh.KeyID != 2 {
		t.Fatalf("issued under %d after rotation", fresh.KeyID)
	}
	ob, fb := old.Bytes(), fresh.Bytes()
	if _, err := r.Verify(ob[:], now); err != nil {
		t.Fatalf("old token during overlap: %v", err)
	}
	if err := r.Remove(2); err == nil {
		t.Fatal("removed the current key")
	}
	if err := r.Remove(1); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Verify(ob[:], now); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("old token after removal: %v", err)
	}
	if _, err := r.Verify(fb[:], now); err != nil {
		t.Fatalf("new token: %v", err)
	}
	if ids := r.IDs(); len(ids) != 1 || ids[0] != 2 {
		t.Fatalf("IDs = %v", ids)
	}
	// Replace adopts another ring wholesale.
	r.Replace(ringWith(t, map[uint16][]byte{1: secretA}, 1))
	if _, err := r.Verify(ob[:], now); err != nil {
		t.Fatalf("after Replace: %v", err)
	}
	if cur, ok := r.Current(); !ok || cur != 1 {
		t.Fatalf("Current = %d %v", cur, ok)
	}
}

func TestIssueErrors(t *testing.T) {
	if _, _, err := NewKeyRing().Issue(Claims{Expiry: now}); !errors.Is(err, ErrNoCurrentKey) {
		t.Fatalf("empty ring: %v", err)
	}
	var zero KeyRing
	if _, err := zero.Verify(make([]byte, Size), now); err == nil {
		t.Fatal("zero KeyRing verified something")
	}
	r := ringWith(t, map[uint16][]byte{1: secretA}, 1)
	for _, exp := range []time.Time{time.Unix(0, 0), time.Unix(1<<32, 0)} {
		if _, _, err := r.Issue(Claims{Expiry: exp}); err == nil {
			t.Fatalf("expiry %v accepted", exp)
		}
	}
}

func TestConcurrentVerifyDuringRotation(t *testing.T) {
	r := ringWith(t, map[uint16][]byte{1: secretA}, 1)
	tok, sk, _ := r.Issue(Claims{UserID: 1, Expiry: now.Add(time.Hour)})
	b := tok.Bytes()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, got, err := r.Open(b[:], now); err != nil || got != sk {
					t.Errorf("Open during rotation: %v", err)
					return
				}
			}
		}()
	}
	for i := uint16(2); i < 50; i++ {
		if err := r.Add(i, secretB); err != nil {
			t.Fatal(err)
		}
		if err := r.SetCurrent(i); err != nil {
			t.Fatal(err)
		}
		if i > 2 {
			if err := r.Remove(i - 1); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(stop)
	wg.Wait()
}

func TestVerifyAllocs(t *testing.T) {
	r := ringWith(t, map[uint16][]byte{1: secretA}, 1)
	tok, _, _ := r.Issue(Claims{UserID: 1, Expiry: now.Add(time.Hour)})
	b := tok.Bytes()
	in := b[:]
	if n := testing.AllocsPerRun(1000, func() {
		if _, err := r.Verify(in, now); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("Verify allocates %v times", n)
	}
	if n := testing.AllocsPerRun(1000, func() {
		if _, _, err := r.Open(in, now); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("Open allocates %v times", n)
	}
	bad := append([]byte(nil), in...)
	bad[30] ^= 1
	if n := testing.AllocsPerRun(1000, func() { _, _ = r.Verify(bad, now) }); n != 0 {
		t.Fatalf("rejecting Verify allocates %v times", n)
	}
}

func FuzzVerify(f *testing.F) {
	r := ringWith(f, map[uint16][]byte{1: secretA}, 1)
	tok, _, _ := r.Issue(Claims{UserID: 1, Expiry: now.Add(time.Hour)})
	b := tok.Bytes()
	f.Add(b[:])
	f.Add(b[:20])
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := r.Verify(in, now)
		if err == nil {
			if gb := got.Bytes(); string(gb[:]) != string(in) {
				t.Fatalf("verified token %x re-encodes as %x", in, gb)
			}
			return
		}
		if !IsAuthError(err) {
			t.Fatalf("untyped error %v", err)
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	r := ringWith(b, map[uint16][]byte{1: secretA}, 1)
	tok, _, _ := r.Issue(Claims{UserID: 1, Expiry: now.Add(time.Hour)})
	tb := tok.Bytes()
	in := tb[:]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Verify(in, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	r := ringWith(b, map[uint16][]byte{1: secretA}, 1)
	tok, _, _ := r.Issue(Claims{UserID: 1, Expiry: now.Add(time.Hour)})
	tb := tok.Bytes()
	in := tb[:]
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := r.Open(in, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIssue(b *testing.B) {
	r := ringWith(b, map[uint16][]byte{1: secretA}, 1)
	c := Claims{UserID: 1, Expiry: now.Add(time.Hour)}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := r.Issue(c); err != nil {
			b.Fatal(err)
		}
	}
}
