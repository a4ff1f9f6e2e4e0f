package hl1

import (
	"bytes"
	"encoding/hex"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"heartline/protocol/token"
)

// The test vectors of PROTOCOL.md ("Test vectors") are read from the document itself and
// compared byte for byte with this package's encoders, so the document cannot drift from
// the code. A vector is a fenced block whose info string is "<kind> <name>":
//
//	```hex heartbeat
//	13 0000002a ...
//	```
//
// kind "hex" holds hex digits (whitespace ignored), "text" a literal line, "keyfile" a
// key file (token.ParseKeyRing format). Every name below must appear exactly once, and
// the document must hold no vector this test does not check.
//
// After a deliberate change, print the new values with:
//
//	HL1_PRINT_VECTORS=1 go test -run TestProtocolVectors -v ./protocol/hl1

const protocolDoc = "../PROTOCOL.md"

var vectorBlock = regexp.MustCompile("(?m)^```(hex|text|keyfile) ([a-z0-9-]+)\n((?s:.*?))^```")

type docVector struct{ kind, body string }

func readDocVectors(t *testing.T) map[string]docVector {
	t.Helper()
	doc, err := os.ReadFile(protocolDoc)
	if err != nil {
		t.Fatalf("read %s: %v", protocolDoc, err)
	}
	out := map[string]docVector{}
	for _, m := range vectorBlock.FindAllStringSubmatch(string(doc), -1) {
		if _, dup := out[m[2]]; dup {
			t.Fatalf("%s: vector %q appears twice", protocolDoc, m[2])
		}
		out[m[2]] = docVector{m[1], m[3]}
	}
	return out
}

func decodeHexBlock(t *testing.T, name, body string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(body), ""))
	if err != nil {
		t.Fatalf("vector %s: %v", name, err)
	}
	return b
}

// The inputs stated in PROTOCOL.md's "Test vectors" section.
var (
	vecNow           = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	vecTokenA        = token.Token{KeyID: 7, UserID: 12345678, DeviceID: 2, Expiry: uint32(vecNow.Add(30 * 24 * time.Hour).Unix()), Nonce: 0x0123456789ABCDEF}
	vecTokenB        = token.Token{KeyID: 7, UserID: 12345678, DeviceID: 3, Expiry: vecTokenA.Expiry, Nonce: 0xFEDCBA9876543210}
	vecEpoch  uint32 = 3
)

// computeVectors builds every vector from the key file found in the document.
func computeVectors(t *testing.T, keyfile string) map[string][]byte {
	t.Helper()
	ring, err := token.ParseKeyRing(strings.NewReader(keyfile))
	if err != nil {
		t.Fatalf("keyfile vector: %v", err)
	}
	tokA, err := ring.Sign(vecTokenA)
	if err != nil {
		t.Fatal(err)
	}
	tokB, _ := ring.Sign(vecTokenB)
	skA, _ := ring.DeriveSessionKey(tokA)
	skB, _ := ring.DeriveSessionKey(tokB)
	keyA, keyB := NewMACKey(skA), NewMACKey(skB)

	hello := Hello{Flags: FlagActive, ClientTimeMS: uint64(vecNow.UnixMilli()) - 1200, Nonce: 0xA1B2C3D4, Token: tokA.Bytes()}.Seal(keyA)
	welcome := Welcome{Slot: 42, Epoch: vecEpoch, IntervalMS: 10_000, ServerTimeMS: uint64(vecNow.UnixMilli())}.Seal(keyA, hello.Nonce)
	hb := Beat{Slot: 42, Epoch: vecEpoch, Seq: 1, TS: 1000, Active: true}.Seal(keyA)
	hbWrap := Beat{Slot: 42, Epoch: vecEpoch, Seq: 32770, TS: 65_600, Active: false}.Seal(keyA)
	bye := Beat{Slot: 42, Epoch: vecEpoch, Seq: 32771, TS: 66_100, Active: false, Bye: true}.Seal(keyA)
	hbB := Beat{Slot: 1042, Epoch: vecEpoch, Seq: 7, TS: 6000, Active: true}.Seal(keyB)

	var batch Batch
	_ = batch.Add(hbB)
	_ = batch.Add(hb)
	batch.Sort()
	batchF, err := AppendBatch(nil, &batch)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := AppendSubscribe(nil, &Subscription{UserIDs: []uint64{12345678, 12345679, 12399999}})
	if err != nil {
		t.Fatal(err)
	}
	unsub, _ := AppendSubscribe(nil, &Subscription{Unsubscribe: true, UserIDs: []uint64{12345679}})
	event, err := AppendEvents(nil, []Event{
		{UserID: 12345678, State: StateActive, Devices: 2, LastSeenMS: uint64(vecNow.UnixMilli()) + 10_000, Version: 1001},
		{UserID: 12345679, State: StateOffline, Devices: 0, LastSeenMS: uint64(vecNow.UnixMilli()) - 3_600_000, Version: 1002},
	})
	if err != nil {
		t.Fatal(err)
	}
	tcp, _ := AppendTCP(nil, AppendHeartbeat(nil, hb))
	rehellos, err := AppendRehellos(nil, []Rehello{{Slot: 42, Reason: RehelloUnknownSlot}, {Slot: 1042, Reason: RehelloDraining}})
	if err != nil {
		t.Fatal(err)
	}
	tA, tB := tokA.Bytes(), tokB.Bytes()
	return map[string][]byte{
		"token":            tA[:],
		"token-text":       []byte(tokA.String()),
		"session-key":      skA[:],
		"token-b":          tB[:],
		"session-key-b":    skB[:],
		"hello":            AppendHello(nil, hello),
		"welcome":          AppendWelcome(nil, welcome),
		"heartbeat":        AppendHeartbeat(nil, hb),
		"heartbeat-wrap":   AppendHeartbeat(nil, hbWrap),
		"bye":              AppendHeartbeat(nil, bye),
		"heartbeat-b":      AppendHeartbeat(nil, hbB),
		"rehello":          AppendRehello(nil, Rehello{Slot: 42, Reason: RehelloUnknownSlot}),
		"batch":            batchF,
		"rehellos":         rehellos,
		"subscribe":        sub,
		"unsubscribe":      unsub,
		"event":            event,
		"close":            AppendClose(nil, CloseTooManySubscribed),
		"tcp-heartbeat":    tcp,
		"heartbeat-mac-in": heartbeatMACBytes(1, 1000),
	}
}

// heartbeatMACBytes is the 26-byte tag input of the "heartbeat" vector.
func heartbeatMACBytes(seq, ts uint64) []byte {
	b := []byte{byte(TypeHeartbeat), 0, 0, 0, 42, 0, 0, 0, byte(vecEpoch)}
	for _, v := range []uint64{seq, ts} {
		for i := 7; i >= 0; i-- {
			b = append(b, byte(v>>(8*i)))
		}
	}
	return append(b, 1)
}

func TestProtocolVectors(t *testing.T) {
	doc := readDocVectors(t)
	kf, ok := doc["vectors"]
	if !ok || kf.kind != "keyfile" {
		t.Fatalf("%s has no ```keyfile vectors block", protocolDoc)
	}
	want := computeVectors(t, kf.body)
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	if os.Getenv("HL1_PRINT_VECTORS") != "" {
		for _, n := range names {
			if n == "token-text" {
				t.Logf("```text %s\n%s\n```", n, want[n])
				continue
			}
			t.Logf("```hex %s\n%s\n```", n, hex.EncodeToString(want[n]))
		}
	}
	for _, n := range names {
		v, ok := doc[n]
		if !ok {
			t.Errorf("%s lacks vector %q", protocolDoc, n)
			continue
		}
		var got []byte
		switch v.kind {
		case "hex":
			got = decodeHexBlock(t, n, v.body)
		case "text":
			got = []byte(strings.TrimSpace(v.body))
		default:
			t.Errorf("vector %q has kind %s", n, v.kind)
			continue
		}
		if !bytes.Equal(got, want[n]) {
			t.Errorf("vector %q: document has %x, code produces %x", n, got, want[n])
		}
	}
	for n := range doc {
		if _, ok := want[n]; !ok && n != "vectors" {
			t.Errorf("%s has vector %q that no test checks", protocolDoc, n)
		}
	}
}

// The documented vectors also decode and authenticate as the document says they do.
func TestProtocolVectorsDecode(t *testing.T) {
	doc := readDocVectors(t)
	ring, err := token.ParseKeyRing(strings.NewReader(doc["vectors"].body))
	if err != nil {
		t.Fatal(err)
	}
	hx := func(n string) []byte { return decodeHexBlock(t, n, doc[n].body) }
	tok, sk, err := ring.Open(hx("token"), vecNow)
	if err != nil || tok.UserID != 12345678 || !bytes.Equal(sk[:], hx("session-key")) {
		t.Fatalf("token vector: %+v %v", tok, err)
	}
	key := NewMACKey(sk)
	hello, err := ParseHello(hx("hello"))
	if err != nil || !hello.Verify(key) || hello.CheckClock(vecNow, DefaultMaxClockSkew) != nil {
		t.Fatalf("hello vector: %v", err)
	}
	w, err := ParseWelcome(hx("welcome"))
	if err != nil || !w.Verify(key, hello.Nonce) || w.Slot != 42 || w.Epoch != vecEpoch {
		t.Fatalf("welcome vector: %+v %v", w, err)
	}
	// Receiver side of the worked examples: WELCOME at server time T (seq 0, ts 0), the
	// first heartbeat 10 s later; later in the session, after 32769 accepted frames (seq15
	// and ts16 have both wrapped), the wrap vector and the BYE.
	hb, _ := ParseHeartbeat(hx("heartbeat"))
	if seq, ts, err := hb.Open(key, vecEpoch, 0, 0+1000); err != nil || seq != 1 || ts != 1000 {
		t.Fatalf("heartbeat vector: %d %d %v", seq, ts, err)
	}
	if mac := key.Sum(hx("heartbeat-mac-in")); mac != hb.Tag {
		t.Fatalf("heartbeat tag %016x is not SipHash of the documented input (%016x)", hb.Tag, mac)
	}
	wrap, _ := ParseHeartbeat(hx("heartbeat-wrap"))
	if seq, ts, err := wrap.Open(key, vecEpoch, 32769, 65_500); err != nil || seq != 32770 || ts != 65_600 {
		t.Fatalf("heartbeat-wrap vector: %d %d %v", seq, ts, err)
	}
	bye, _ := ParseHeartbeat(hx("bye"))
	if seq, _, err := bye.Open(key, vecEpoch, 32770, 66_000); err != nil || !bye.Bye || seq != 32771 {
		t.Fatalf("bye vector: %v", err)
	}
	var b Batch
	if err := ParseBatch(hx("batch"), &b); err != nil || b.Len() != 2 || b.Entry(0) != hb {
		t.Fatalf("batch vector: %v", err)
	}
	tokB, skB, err := ring.Open(hx("token-b"), vecNow)
	if err != nil || tokB.DeviceID != 3 {
		t.Fatal(err)
	}
	if _, _, err := b.Entry(1).Open(NewMACKey(skB), vecEpoch, 6, 6000); err != nil {
		t.Fatalf("batch entry 1 under session B: %v", err)
	}
}
