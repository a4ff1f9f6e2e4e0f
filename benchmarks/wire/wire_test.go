package wire

import (
	"encoding/json"
	"testing"
)

func TestAppendJSONBeatMatchesEncodingJSON(t *testing.T) {
	for _, b := range []JSONBeat{{UserID: 1, TS: 2, Status: "active", Seq: 3}, {UserID: 1<<64 - 1, TS: -5, Status: "idle", Seq: 0}} {
		got := AppendJSONBeat(nil, b)
		want, _ := json.Marshal(b)
		if string(got) != string(want) {
			t.Fatalf("AppendJSONBeat = %s, encoding/json = %s", got, want)
		}
	}
}

func TestPresharedKeyDiffersPerSlot(t *testing.T) {
	msg := []byte("heartbeat")
	if PresharedKey(1).Sum(msg) == PresharedKey(2).Sum(msg) {
		t.Fatal("slots 1 and 2 share a key")
	}
	if PresharedKey(7).Sum(msg) != PresharedKey(7).Sum(msg) {
		t.Fatal("PresharedKey is not deterministic")
	}
}
