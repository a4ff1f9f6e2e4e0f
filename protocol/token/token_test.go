package token

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

func sampleToken() Token {
	return Token{KeyID: 0x0102, UserID: 0x1122334455667788, DeviceID: 0xA1B2C3D4, Expiry: 0x6A000000, Nonce: 0xDEADBEEFCAFEF00D,
		MAC: [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}}
}

func TestLayout(t *testing.T) {
	b := sampleToken().Bytes()
	want := []byte{1, 0x01, 0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0xA1, 0xB2, 0xC3, 0xD4,
		0x6A, 0, 0, 0, 0xDE, 0xAD, 0xBE, 0xEF, 0xCA, 0xFE, 0xF0, 0x0D, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	if !bytes.Equal(b[:], want) {
		t.Fatalf("layout\n got %x\nwant %x", b, want)
	}
}

func TestParseRoundTrip(t *testing.T) {
	tok := sampleToken()
	b := tok.Bytes()
	got, err := Parse(b[:])
	if err != nil || got != tok {
		t.Fatalf("Parse = %+v, %v; want %+v", got, err, tok)
	}
	txt := tok.String()
	if len(txt) != TextSize {
		t.Fatalf("text length %d, want %d", len(txt), TextSize)
	}
	got, err = ParseText(txt)
	if err != nil || got != tok {
		t.Fatalf("ParseText = %+v, %v", got, err)
	}
	js, err := json.Marshal(struct{ T Token }{tok})
	if err != nil {
		t.Fatal(err)
	}
	var back struct{ T Token }
	if err := json.Unmarshal(js, &back); err != nil || back.T != tok {
		t.Fatalf("JSON round trip: %s -> %+v, %v", js, back.T, err)
	}
	if !bytes.Contains(js, []byte(txt)) {
		t.Fatalf("JSON %s does not carry the text form %s", js, txt)
	}
}

func TestParseRejects(t *testing.T) {
	b := sampleToken().Bytes()
	cases := map[string][]byte{
		"empty":    nil,
		"short":    b[:Size-1],
		"trailing": append(b[:], 0),
		"version0": append([]byte{0}, b[1:]...),
		"version2": append([]byte{2}, b[1:]...),
	}
	for name, in := range cases {
		if _, err := Parse(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
	txt := sampleToken().String()
	textCases := map[string]string{
		"short":       txt[:TextSize-1],
		"long":        txt + "A",
		"std base64":  "+" + txt[1:],
		"padding":     txt[:TextSize-1] + "=",
		"nonzero pad": txt[:TextSize-1] + string(flipLowBits(txt[TextSize-1])),
		"newline":     txt[:TextSize-1] + "\n",
	}
	for name, in := range textCases {
		if _, err := ParseText(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("text %s: err = %v, want ErrMalformed", name, err)
		}
	}
}

// flipLowBits returns the base64url character whose value differs from c's in the lowest
// bit; the last character of a 43-byte encoding carries 4 unused low bits.
func flipLowBits(c byte) byte {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := bytes.IndexByte([]byte(alphabet), c)
	return alphabet[i^1]
}

func FuzzParse(f *testing.F) {
	b := sampleToken().Bytes()
	f.Add(b[:])
	f.Add(b[:10])
	f.Add(append(b[:], 1))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		tok, err := Parse(in)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if out := tok.Append(nil); !bytes.Equal(out, in) {
			t.Fatalf("re-encode %x != input %x", out, in)
		}
	})
}

func FuzzParseText(f *testing.F) {
	f.Add(sampleToken().String())
	f.Add("")
	f.Add("AQECESIzRFVmd4ih")
	f.Fuzz(func(t *testing.T, in string) {
		tok, err := ParseText(in)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if out := tok.String(); out != in {
			t.Fatalf("re-encode %q != input %q", out, in)
		}
	})
}

func TestParseAllocs(t *testing.T) {
	b := sampleToken().Bytes()
	in := b[:]
	if n := testing.AllocsPerRun(100, func() { _, _ = Parse(in) }); n != 0 {
		t.Fatalf("Parse allocates %v times", n)
	}
}
