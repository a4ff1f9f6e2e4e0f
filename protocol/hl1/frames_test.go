package hl1

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"heartline/protocol/token"
)

var testKey = NewMACKey([16]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})

func sampleHello() Hello {
	h := Hello{Flags: FlagActive, ClientTimeMS: 1_750_000_000_123, Nonce: 0xA1B2C3D4}
	for i := range h.Token {
		h.Token[i] = byte(i * 7)
	}
	h.Token[0] = 1
	return h.Seal(testKey)
}

func sampleWelcome() Welcome {
	return Welcome{Slot: 0x00010203, Epoch: 77, IntervalMS: 10_000, ServerTimeMS: 1_750_000_000_456}.Seal(testKey, 0xA1B2C3D4)
}

func sampleHeartbeat() Heartbeat {
	return Beat{Slot: 0x00010203, Epoch: 77, Seq: 70_000, TS: 123_456, Active: true}.Seal(testKey)
}

func sampleEvents() []Event {
	return []Event{
		{UserID: 1, State: StateActive, Devices: 2, LastSeenMS: 1_750_000_000_000, Version: 100},
		{UserID: 1 << 60, State: StateOffline, Devices: 0, LastSeenMS: 5, Version: 1<<64 - 1},
	}
}

func TestHeartbeatLayout(t *testing.T) {
	h := Heartbeat{Slot: 0x01020304, Word: MakeWord(0xABCD, true, 0x1234), Tag: 0x1122334455667788}
	got := AppendHeartbeat(nil, h)
	want := []byte{0x13, 1, 2, 3, 4, 0xAB, 0xCD, 0x80 | 0x12, 0x34, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88}
	if !bytes.Equal(got, want) {
		t.Fatalf("got %x want %x", got, want)
	}
	h.Bye = true
	if got := AppendHeartbeat(nil, h); got[0] != 0x14 || len(got) != HeartbeatSize {
		t.Fatalf("BYE frame %x", got)
	}
}

func TestWord(t *testing.T) {
	for _, c := range []struct {
		ts     uint16
		active bool
		seq    uint16
	}{{0, false, 0}, {0xFFFF, true, 0x7FFF}, {1, true, 0}, {0, false, 0x7FFF}, {0x8000, false, 0x4000}} {
		w := MakeWord(c.ts, c.active, c.seq)
		if w.TS16() != c.ts || w.Active() != c.active || w.Seq15() != c.seq {
			t.Errorf("MakeWord(%#x,%v,%#x) = %#08x unpacks to %#x %v %#x", c.ts, c.active, c.seq, uint32(w), w.TS16(), w.Active(), w.Seq15())
		}
	}
	if w := MakeWord(0, false, 0xFFFF); w.Seq15() != 0x7FFF || w.Active() {
		t.Fatalf("seq15 bit 15 leaked into status: %#x", uint32(w))
	}
	if w := WordFor(0x1_2345, 0x1_8001, false); w.TS16() != 0x2345 || w.Seq15() != 1 {
		t.Fatalf("WordFor low bits: %#x", uint32(w))
	}
}

func TestRoundTrips(t *testing.T) {
	hello := sampleHello()
	if got, err := ParseHello(AppendHello(nil, hello)); err != nil || got != hello {
		t.Errorf("HELLO: %+v %v", got, err)
	}
	w := sampleWelcome()
	if got, err := ParseWelcome(AppendWelcome(nil, w)); err != nil || got != w {
		t.Errorf("WELCOME: %+v %v", got, err)
	}
	for _, bye := range []bool{false, true} {
		hb := sampleHeartbeat()
		hb.Bye = bye
		if got, err := ParseHeartbeat(AppendHeartbeat(nil, hb)); err != nil || got != hb {
			t.Errorf("HEARTBEAT bye=%v: %+v %v", bye, got, err)
		}
	}
	r := Rehello{Slot: 9, Reason: RehelloFull}
	if got, err := ParseRehello(AppendRehello(nil, r)); err != nil || got != r {
		t.Errorf("REHELLO: %+v %v", got, err)
	}
	if got, err := ParseClose(AppendClose(nil, CloseTooManySubscribed)); err != nil || got != CloseTooManySubscribed {
		t.Errorf("CLOSE: %v %v", got, err)
	}
	evs := sampleEvents()
	frame, err := AppendEvents(nil, evs)
	if err != nil {
		t.Fatal(err)
	}
	if len(frame) != 3+len(evs)*EventSize {
		t.Errorf("EVENT size %d", len(frame))
	}
	got, err := ParseEvents(frame, nil)
	if err != nil || len(got) != len(evs) || got[0] != evs[0] || got[1] != evs[1] {
		t.Errorf("EVENT: %+v %v", got, err)
	}
	// Encoders append: existing dst content is kept.
	if f := AppendClose([]byte{0xEE}, CloseIdleTimeout); !bytes.Equal(f, []byte{0xEE, 0x1A, 5}) {
		t.Errorf("append semantics: %x", f)
	}
}

func TestSizes(t *testing.T) {
	if n := len(AppendHello(nil, sampleHello())); n != HelloSize || HelloSize != 66 {
		t.Errorf("HELLO is %d bytes", n)
	}
	if n := len(AppendWelcome(nil, sampleWelcome())); n != WelcomeSize || WelcomeSize >= HelloSize {
		t.Errorf("WELCOME is %d bytes, HELLO %d", n, HelloSize)
	}
	// REHELLO answers frames of >= 17 bytes only and must be smaller than each of them.
	rehello := len(AppendRehello(nil, Rehello{Slot: 1<<32 - 1, Reason: RehelloUnknownSlot}))
	for name, n := range map[string]int{
		"HEARTBEAT": len(AppendHeartbeat(nil, sampleHeartbeat())),
		"BYE":       len(AppendHeartbeat(nil, Heartbeat{Bye: true})),
		"HELLO":     len(AppendHello(nil, sampleHello())),
	} {
		if rehello >= n {
			t.Errorf("REHELLO (%d bytes) is not smaller than %s (%d bytes)", rehello, name, n)
		}
	}
}

func TestParseRejects(t *testing.T) {
	evFrame, _ := AppendEvents(nil, sampleEvents())
	frames := map[string][]byte{
		"HELLO":     AppendHello(nil, sampleHello()),
		"WELCOME":   AppendWelcome(nil, sampleWelcome()),
		"HEARTBEAT": AppendHeartbeat(nil, sampleHeartbeat()),
		"REHELLO":   AppendRehello(nil, Rehello{Slot: 1, Reason: 1}),
		"CLOSE":     AppendClose(nil, CloseIdleTimeout),
		"EVENT":     evFrame,
	}
	parse := map[string]func([]byte) error{
		"HELLO":     func(b []byte) error { _, err := ParseHello(b); return err },
		"WELCOME":   func(b []byte) error { _, err := ParseWelcome(b); return err },
		"HEARTBEAT": func(b []byte) error { _, err := ParseHeartbeat(b); return err },
		"REHELLO":   func(b []byte) error { _, err := ParseRehello(b); return err },
		"CLOSE":     func(b []byte) error { _, err := ParseClose(b); return err },
		"EVENT":     func(b []byte) error { _, err := ParseEvents(b, nil); return err },
	}
	for name, f := range frames {
		p := parse[name]
		if err := p(f); err != nil {
			t.Fatalf("%s: valid frame rejected: %v", name, err)
		}
		expect := func(what string, in []byte, want error) {
			t.Helper()
			if err := p(in); err != want {
				t.Errorf("%s %s: err = %v, want %v", name, what, err, want)
			}
		}
		expect("empty", nil, ErrShort)
		expect("short", f[:len(f)-1], ErrShort)
		expect("trailing", append(bytes.Clone(f), 0), ErrTrailing)
		v2 := bytes.Clone(f)
		v2[0] = 0x20 | f[0]&0x0f
		expect("version 2", v2, ErrVersion)
		v0 := bytes.Clone(f)
		v0[0] = f[0] & 0x0f
		expect("version 0", v0, ErrVersion)
		unk := bytes.Clone(f)
		unk[0] = 0x1F
		expect("unknown type", unk, ErrUnknownType)
		other := bytes.Clone(f)
		other[0] = byte(TypeSubscribe)
		expect("other type", other, ErrWrongType)
		expect("oversize", append(bytes.Clone(f), make([]byte, MaxFrame)...), ErrTooLarge)
	}
	h := AppendHello(nil, sampleHello())
	for _, n := range []byte{0, 42, 44, 255} {
		b := bytes.Clone(h)
		b[14] = n
		if _, err := ParseHello(b); err != ErrBadLength {
			t.Errorf("HELLO token_len %d: %v", n, err)
		}
	}
	if _, err := ParseRehello([]byte{0x15, 0, 0, 0, 1, 0}); err != ErrBadValue {
		t.Errorf("REHELLO reason 0: %v", err)
	}
	if _, err := ParseClose([]byte{0x1A, 0}); err != ErrBadValue {
		t.Errorf("CLOSE reason 0: %v", err)
	}
	bad := bytes.Clone(evFrame)
	bad[3+8] = 3
	if got, err := ParseEvents(bad, []Event{{UserID: 9}}); err != ErrBadValue || len(got) != 1 {
		t.Errorf("EVENT state 3: %v (dst length %d, want it restored to 1)", err, len(got))
	}
	if _, err := ParseEvents([]byte{0x19, 0, 0}, nil); err != ErrBadValue {
		t.Errorf("EVENT count 0: %v", err)
	}
	if _, err := ParseEvents([]byte{0x19, 0, MaxEvents + 1}, nil); err != ErrTooLarge {
		t.Errorf("EVENT count above MaxEvents: %v", err)
	}
	mismatch := bytes.Clone(evFrame)
	mismatch[2] = 1 // says one entry, carries two
	if _, err := ParseEvents(mismatch, nil); err != ErrTrailing {
		t.Errorf("EVENT count smaller than entries: %v", err)
	}
}

func TestAppendEventsRejects(t *testing.T) {
	dst := []byte{1, 2}
	if out, err := AppendEvents(dst, nil); err != ErrBadValue || len(out) != 2 {
		t.Errorf("no events: %v %x", err, out)
	}
	if out, err := AppendEvents(dst, make([]Event, MaxEvents+1)); err != ErrTooLarge || len(out) != 2 {
		t.Errorf("too many: %v", err)
	}
	if _, err := AppendEvents(dst, make([]Event, MaxEvents)); err != nil {
		t.Errorf("MaxEvents events: %v", err)
	}
	if f, _ := AppendEvents(nil, make([]Event, MaxEvents)); len(f) > MaxFrame {
		t.Errorf("MaxEvents frame is %d bytes > MaxFrame", len(f))
	}
	if out, err := AppendEvents(dst, []Event{{State: 3}}); err != ErrBadValue || len(out) != 2 {
		t.Errorf("state 3: %v", err)
	}
}

func TestPeekType(t *testing.T) {
	for vt := Type(0x11); vt <= 0x1C; vt++ {
		if got, err := PeekType([]byte{byte(vt)}); err != nil || got != vt {
			t.Errorf("%v: %v %v", vt, got, err)
		}
		if vt.String() == "" || vt.String()[0] == 'T' {
			t.Errorf("%#x has no name: %q", byte(vt), vt.String())
		}
	}
	for _, b := range []byte{0x10, 0x1D, 0x1F} {
		if _, err := PeekType([]byte{b}); err != ErrUnknownType {
			t.Errorf("%#x: %v", b, err)
		}
	}
	for _, b := range []byte{0x01, 0x21, 0xF3} {
		if _, err := PeekType([]byte{b}); err != ErrVersion {
			t.Errorf("%#x: %v", b, err)
		}
	}
	if _, err := PeekType(nil); err != ErrShort {
		t.Errorf("empty: %v", err)
	}
	if _, err := PeekType(make([]byte, MaxFrame+1)); err != ErrTooLarge {
		t.Errorf("oversize: %v", err)
	}
}

func TestHelloAuth(t *testing.T) {
	h := sampleHello()
	if !h.Verify(testKey) {
		t.Fatal("sealed HELLO does not verify")
	}
	frame := AppendHello(nil, h)
	for bit := 8; bit < len(frame)*8; bit++ { // every bit after byte 0
		b := bytes.Clone(frame)
		b[bit/8] ^= 1 << (bit % 8)
		got, err := ParseHello(b)
		if err == nil && got.Verify(testKey) {
			t.Fatalf("HELLO with bit %d flipped verifies", bit)
		}
	}
	other := NewMACKey([16]byte{1})
	if h.Verify(other) {
		t.Fatal("HELLO verifies under another key")
	}
	now := time.UnixMilli(int64(h.ClientTimeMS))
	for _, c := range []struct {
		off time.Duration
		ok  bool
	}{{0, true}, {5 * time.Minute, true}, {-5 * time.Minute, true}, {5*time.Minute + time.Millisecond, false}, {-5*time.Minute - time.Millisecond, false}} {
		err := h.CheckClock(now.Add(c.off), DefaultMaxClockSkew)
		if (err == nil) != c.ok || (err != nil && err != ErrClockSkew) {
			t.Errorf("server clock %+v: %v", c.off, err)
		}
	}
	if h.CheckClock(now.Add(time.Millisecond), -time.Hour) != ErrClockSkew || h.CheckClock(now, -time.Hour) != nil {
		t.Error("negative maxSkew is not treated as 0")
	}
	far := h
	far.ClientTimeMS = 1<<64 - 1
	if far.CheckClock(now, DefaultMaxClockSkew) != ErrClockSkew {
		t.Error("client_time 2^64-1 accepted")
	}
	if !h.Active() || (Hello{}).Active() {
		t.Error("Active flag")
	}
}

func TestWelcomeAuth(t *testing.T) {
	w := sampleWelcome()
	if !w.Verify(testKey, 0xA1B2C3D4) {
		t.Fatal("sealed WELCOME does not verify")
	}
	if w.Verify(testKey, 0xA1B2C3D5) {
		t.Fatal("WELCOME verifies against another HELLO nonce")
	}
	frame := AppendWelcome(nil, w)
	for bit := 8; bit < len(frame)*8; bit++ {
		b := bytes.Clone(frame)
		b[bit/8] ^= 1 << (bit % 8)
		if got, err := ParseWelcome(b); err == nil && got.Verify(testKey, 0xA1B2C3D4) {
			t.Fatalf("WELCOME with bit %d flipped verifies", bit)
		}
	}
	if w.Interval() != 10*time.Second {
		t.Errorf("Interval %v", w.Interval())
	}
}

func TestAllocs(t *testing.T) {
	buf := make([]byte, 0, MaxFrame)
	hello, welcome, hb := sampleHello(), sampleWelcome(), sampleHeartbeat()
	evs := sampleEvents()
	helloF, welcomeF, hbF := AppendHello(nil, hello), AppendWelcome(nil, welcome), AppendHeartbeat(nil, hb)
	rehelloF, closeF := AppendRehello(nil, Rehello{1, 1}), AppendClose(nil, 1)
	evF, _ := AppendEvents(nil, evs)
	evDst := make([]Event, 0, MaxEvents)
	stream, _ := AppendTCP(nil, hbF)
	rd := bytes.NewReader(stream)
	cases := map[string]func(){
		"AppendHello":     func() { _ = AppendHello(buf[:0], hello.Seal(testKey)) },
		"ParseHello":      func() { h, _ := ParseHello(helloF); _ = h.Verify(testKey) },
		"CheckClock":      func() { _ = hello.CheckClock(time.Unix(1, 0), time.Minute) },
		"AppendWelcome":   func() { _ = AppendWelcome(buf[:0], welcome.Seal(testKey, 1)) },
		"ParseWelcome":    func() { w, _ := ParseWelcome(welcomeF); _ = w.Verify(testKey, 1) },
		"AppendHeartbeat": func() { _ = AppendHeartbeat(buf[:0], Beat{Seq: 1}.Seal(testKey)) },
		"ParseHeartbeat":  func() { h, _ := ParseHeartbeat(hbF); _, _, _ = h.Open(testKey, 77, 69_999, 123_000) },
		"AppendRehello":   func() { _ = AppendRehello(buf[:0], Rehello{1, 1}) },
		"ParseRehello":    func() { _, _ = ParseRehello(rehelloF) },
		"AppendClose":     func() { _ = AppendClose(buf[:0], 1) },
		"ParseClose":      func() { _, _ = ParseClose(closeF) },
		"AppendEvents":    func() { _, _ = AppendEvents(buf[:0], evs) },
		"ParseEvents":     func() { _, _ = ParseEvents(evF, evDst[:0]) },
		"AppendTCP":       func() { _, _ = AppendTCP(buf[:0], hbF) },
		"BeginEndTCP": func() {
			b, s := BeginTCP(buf[:0])
			_, _ = EndTCP(AppendHeartbeat(b, hb), s)
		},
		"NextTCP":      func() { _, _, _ = NextTCP(stream) },
		"ReadTCPFrame": func() { rd.Reset(stream); _, _ = ReadTCPFrame(rd, buf) },
		"PeekType":     func() { _, _ = PeekType(hbF) },
		"reject":       func() { _, _ = ParseHeartbeat(helloF) },
		"ReasonOf":     func() { _ = ReasonOf(ErrBadMAC) },
	}
	for name, f := range cases {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s allocates %v times per run", name, n)
		}
	}
}

func TestErrorsAndReasons(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Reasons() {
		if r == "" || seen[r] {
			t.Errorf("reason %q empty or duplicated", r)
		}
		seen[r] = true
	}
	for _, e := range allErrors {
		if got := ReasonOf(e); got != e.Reason() || !seen[got] {
			t.Errorf("ReasonOf(%v) = %q", e, got)
		}
		if ReasonOf(errors.Join(errors.New("ctx"), e)) != e.Reason() {
			t.Errorf("wrapped %v loses its reason", e)
		}
	}
	for err, want := range map[error]string{token.ErrMalformed: "token_malformed", token.ErrUnknownKey: "token_unknown_key",
		token.ErrBadMAC: "token_bad_mac", token.ErrExpired: "token_expired"} {
		if got := ReasonOf(err); got != want || !seen[got] {
			t.Errorf("ReasonOf(%v) = %q, want %q", err, got, want)
		}
		if got := ReasonOf(fmt.Errorf("hello: %w", err)); got != want {
			t.Errorf("wrapped token error: %q", got)
		}
	}
	if ReasonOf(nil) != "" || ReasonOf(errors.New("x")) != "other" {
		t.Error("nil / foreign reasons")
	}
}
