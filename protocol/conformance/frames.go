package conformance

import (
	"bytes"
	"testing"

	"heartline/protocol/hl1"
)

// namedFrame is a frame a row of the error table sends, with the case's name.
type namedFrame struct {
	name  string
	frame []byte
}

// strangerSlot is a slot no session of the suite holds (a HEARTBEAT on it: REHELLO 1).
const strangerSlot = 0xfe00_0001

// strangerBeat is a 17-byte HEARTBEAT on strangerSlot: if the gateway took a malformed
// variant of it for a heartbeat, it would answer REHELLO 1, so a drop is visible.
func strangerBeat() []byte {
	return hl1.AppendHeartbeat(nil, hl1.Heartbeat{Slot: strangerSlot, Word: 0x00018001, Tag: 0x0123456789abcdef})
}

// must returns a function that unwraps an encoder's (frame, error), failing t on error.
func must(t testing.TB) func([]byte, error) []byte {
	return func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatalf("building a frame: %v", err)
		}
		return b
	}
}

// framingErrors: "empty, > 4096 bytes, version != 1, unknown type". The empty and oversize
// cases are transport specific (a 0-byte datagram, a 0 or 4097 length prefix): see the rows.
func framingErrors() []namedFrame {
	v2 := strangerBeat()
	v2[0] = 0x23
	unknown := strangerBeat()
	unknown[0] = 0x1f
	zero := strangerBeat()
	zero[0] = 0x10
	return []namedFrame{{"version 2", v2}, {"unknown type 0x1F", unknown}, {"type 0", zero}}
}

// gatewayOnlyFrames are valid frames of the types a gateway never receives.
func gatewayOnlyFrames(t testing.TB) []namedFrame {
	w := hl1.AppendWelcome(nil, hl1.Welcome{Slot: strangerSlot, Epoch: 1, IntervalMS: 1000, ServerTimeMS: 1, Tag: 2})
	r := hl1.AppendRehello(nil, hl1.Rehello{Slot: strangerSlot, Reason: hl1.RehelloUnknownSlot})
	rs := must(t)(hl1.AppendRehellos(nil, []hl1.Rehello{{Slot: strangerSlot, Reason: 1}, {Slot: strangerSlot + 1, Reason: 1}, {Slot: strangerSlot + 2, Reason: 1}, {Slot: strangerSlot + 3, Reason: 1}}))
	ev := must(t)(hl1.AppendEvents(nil, []hl1.Event{{UserID: 1, State: hl1.StateActive, Devices: 1, LastSeenMS: 1, Version: 1}}))
	c := hl1.AppendClose(nil, hl1.CloseProtocolError)
	return []namedFrame{{"WELCOME", w}, {"REHELLO", r}, {"REHELLOS", rs}, {"EVENT", ev}, {"CLOSE", c}}
}

// appOnlyFrames are valid frames of the types only TCP carries (SUBSCRIBE, UNSUBSCRIBE, GRANT).
func appOnlyFrames(t testing.TB) []namedFrame {
	sub := must(t)(hl1.AppendSubscribe(nil, &hl1.Subscription{UserIDs: []uint64{1, 2, 3}}))
	unsub := must(t)(hl1.AppendSubscribe(nil, &hl1.Subscription{Unsubscribe: true, UserIDs: []uint64{1, 2, 3}}))
	grant := hl1.AppendGrant(nil, bytes.Repeat([]byte{0x42}, 40))
	return []namedFrame{{"SUBSCRIBE", sub}, {"UNSUBSCRIBE", unsub}, {"GRANT", grant}}
}

// strangerBatch is a valid BATCH of n entries on slots no session holds.
func strangerBatch(t testing.TB, n int) []byte {
	var b hl1.Batch
	for i := range n {
		b.Slots = append(b.Slots, uint64(strangerSlot+16+7919*i))
		b.Words = append(b.Words, 0x00018001)
		b.Tags = append(b.Tags, uint64(i)+1)
	}
	return must(t)(hl1.AppendBatch(nil, &b))
}

// unparsable are HEARTBEAT, BYE and HELLO frames (on stranger slots, or a valid HELLO) with
// one thing wrong: taken for what they resemble, each would be answered.
func unparsable(c *creds) []namedFrame {
	hb := strangerBeat()
	bye := strangerBeat()
	bye[0] = byte(hl1.TypeBye)
	hello, _ := c.helloFrame(hl1.FlagActive)
	badLen := append([]byte(nil), hello...)
	badLen[14] = 42 // token_len
	return []namedFrame{
		{"HEARTBEAT short (16 bytes)", hb[:16]},
		{"HEARTBEAT trailing (18 bytes)", append(append([]byte(nil), hb...), 0)},
		{"BYE short (16 bytes)", bye[:16]},
		{"BYE trailing (18 bytes)", append(append([]byte(nil), bye...), 0)},
		{"HELLO short (65 bytes)", hello[:65]},
		{"HELLO trailing (67 bytes)", append(append([]byte(nil), hello...), 0)},
		{"HELLO token_len 42", badLen},
	}
}

// unparsableBatches are BATCH frames on stranger slots with one thing wrong (from a relay,
// each would be answered with a REHELLOS if taken).
func unparsableBatches(t testing.TB) []namedFrame {
	batch := strangerBatch(t, 2)
	zeroCount := append([]byte(nil), batch...)
	zeroCount[1], zeroCount[2] = 0, 0
	countMismatch := append([]byte(nil), batch...)
	countMismatch[2] = 3
	// slots [s, s]: a valid sorted list (count 2, first s, one width-0 block) that is not
	// strictly increasing.
	unsorted := []byte{byte(hl1.TypeBatch), 0, 2, 2, 0x0a, 0}
	unsorted = append(unsorted, batch[len(batch)-24:]...)
	corrupt := []byte{byte(hl1.TypeBatch), 0, 2, 2, 0x0a, 65} // block width 65
	corrupt = append(corrupt, batch[len(batch)-24:]...)
	return []namedFrame{
		{"BATCH count 0", zeroCount},
		{"BATCH count disagrees with its list", countMismatch},
		{"BATCH slots not increasing", unsorted},
		{"BATCH corrupt slot list", corrupt},
		{"BATCH trailing", append(append([]byte(nil), batch...), 0)},
	}
}

// unsortedSubscribe is a SUBSCRIBE whose ids repeat (not strictly increasing).
func unsortedSubscribe() []byte {
	return []byte{byte(hl1.TypeSubscribe), 0, 2, 2, 0x0a, 0}
}
