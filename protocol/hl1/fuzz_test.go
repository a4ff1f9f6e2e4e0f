package hl1

import (
	"bytes"
	"testing"
)

// Every decoder is fuzzed: it must never panic, must fail only with the package's typed
// errors, and whatever it accepts must re-encode to exactly the input (HL1 v1 is canonical).

func checkTyped(t *testing.T, err error) {
	t.Helper()
	if _, ok := err.(*Error); !ok {
		t.Fatalf("untyped error %T %v", err, err)
	}
}

func addMutations(f *testing.F, frame []byte) {
	f.Add(frame)
	f.Add(frame[:len(frame)-1])
	f.Add(append(bytes.Clone(frame), 0))
	f.Add(frame[:1])
	f.Add([]byte{})
}

func FuzzParseHello(f *testing.F) {
	addMutations(f, AppendHello(nil, sampleHello()))
	f.Fuzz(func(t *testing.T, in []byte) {
		h, err := ParseHello(in)
		if err != nil {
			checkTyped(t, err)
			return
		}
		if out := AppendHello(nil, h); !bytes.Equal(out, in) {
			t.Fatalf("re-encode %x != %x", out, in)
		}
	})
}

func FuzzParseWelcome(f *testing.F) {
	addMutations(f, AppendWelcome(nil, sampleWelcome()))
	f.Fuzz(func(t *testing.T, in []byte) {
		w, err := ParseWelcome(in)
		if err != nil {
			checkTyped(t, err)
			return
		}
		if out := AppendWelcome(nil, w); !bytes.Equal(out, in) {
			t.Fatalf("re-encode %x != %x", out, in)
		}
	})
}

func FuzzParseHeartbeat(f *testing.F) {
	addMutations(f, AppendHeartbeat(nil, sampleHeartbeat()))
	f.Add(AppendHeartbeat(nil, Heartbeat{Bye: true}))
	f.Fuzz(func(t *testing.T, in []byte) {
		h, err := ParseHeartbeat(in)
		if err != nil {
			checkTyped(t, err)
			return
		}
		if out := AppendHeartbeat(nil, h); !bytes.Equal(out, in) {
			t.Fatalf("re-encode %x != %x", out, in)
		}
		// Random bytes never authenticate under the test key (2^-64 odds).
		if _, _, err := h.Open(testKey, 77, 69_999, 123_000); err == nil && !bytes.Equal(in, AppendHeartbeat(nil, sampleHeartbeat())) {
			t.Fatalf("fuzzed heartbeat %x authenticated", in)
		}
	})
}

func FuzzParseRehello(f *testing.F) {
	addMutations(f, AppendRehello(nil, Rehello{Slot: 7, Reason: RehelloExpired}))
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := ParseRehello(in)
		if err != nil {
			checkTyped(t, err)
			return
		}
		if out := AppendRehello(nil, r); !bytes.Equal(out, in) {
			t.Fatalf("re-encode %x != %x", out, in)
		}
	})
}

func FuzzParseClose(f *testing.F) {
	addMutations(f, AppendClose(nil, CloseAuthFailed))
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := ParseClose(in)
		if err != nil {
			checkTyped(t, err)
			return
		}
		if out := AppendClose(nil, r); !bytes.Equal(out, in) {
			t.Fatalf("re-encode %x != %x", out, in)
		}
	})
}

func FuzzParseEvents(f *testing.F) {
	frame, _ := AppendEvents(nil, sampleEvents())
	addMutations(f, frame)
	f.Add([]byte{0x19, 0xFF, 0xFF})
	dst := make([]Event, 0, MaxEvents)
	f.Fuzz(func(t *testing.T, in []byte) {
		evs, err := ParseEvents(in, dst[:0])
		if err != nil {
			checkTyped(t, err)
			if len(evs) != 0 {
				t.Fatal("failed parse left entries in dst")
			}
			return
		}
		out, err := AppendEvents(nil, evs)
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("re-encode %x (%v) != %x", out, err, in)
		}
	})
}

func FuzzNextTCP(f *testing.F) {
	stream, _ := AppendTCP(nil, AppendHeartbeat(nil, sampleHeartbeat()))
	f.Add(stream)
	f.Add(stream[:5])
	f.Add([]byte{0, 0})
	f.Add([]byte{0xFF, 0xFF, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		frame, n, err := NextTCP(in)
		if err != nil {
			checkTyped(t, err)
			return
		}
		if n == 0 {
			return
		}
		out, err := AppendTCP(nil, frame)
		if err != nil || !bytes.Equal(out, in[:n]) {
			t.Fatalf("re-frame %x (%v) != %x", out, err, in[:n])
		}
		if _, err := ReadTCPFrame(bytes.NewReader(in), nil); err != nil {
			t.Fatalf("ReadTCPFrame disagrees with NextTCP: %v", err)
		}
	})
}

func FuzzPeekType(f *testing.F) {
	for vt := byte(0x10); vt <= 0x1C; vt++ {
		f.Add([]byte{vt})
	}
	f.Add([]byte{0x23})
	f.Fuzz(func(t *testing.T, in []byte) {
		typ, err := PeekType(in)
		if err != nil {
			checkTyped(t, err)
			return
		}
		if !typ.Known() || byte(typ) != in[0] {
			t.Fatalf("PeekType(%x) = %v", in, typ)
		}
	})
}

// FuzzParseGrant: the GRANT framing never panics and returns a slice of its input; what is
// inside is fuzzed by protocol/privacy (FuzzOpenGrant, FuzzDecodeGrantPlaintext).
func FuzzParseGrant(f *testing.F) {
	f.Add(AppendGrant(nil, []byte{1, 2, 3}))
	f.Add([]byte{byte(TypeGrant)})
	f.Fuzz(func(t *testing.T, in []byte) {
		g, err := ParseGrant(in)
		if err != nil {
			checkTyped(t, err)
			return
		}
		if len(g) != len(in)-1 || len(g) == 0 {
			t.Fatalf("ParseGrant(%x) = %x", in, g)
		}
	})
}

func FuzzParseRehellos(f *testing.F) {
	seed, _ := AppendRehellos(nil, []Rehello{{Slot: 7, Reason: RehelloUnknownSlot}, {Slot: 1 << 31, Reason: RehelloDraining}})
	addMutations(f, seed)
	f.Fuzz(func(t *testing.T, in []byte) {
		rs, err := ParseRehellos(in, nil)
		if err != nil {
			checkTyped(t, err)
			return
		}
		out, err := AppendRehellos(nil, rs)
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("re-encode %x (%v) != %x", out, err, in)
		}
	})
}
