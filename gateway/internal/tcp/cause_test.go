package tcp

import (
	"testing"

	"heartline/protocol/hl1"
)

func TestCloseCausesHaveDistinctLabelsAndTheirWireCodes(t *testing.T) {
	seen := map[string]bool{}
	for c := CloseCause(0); c < NumCloseCauses; c++ {
		if l := c.String(); l == "" || l == "invalid" || seen[l] {
			t.Fatalf("cause %d: label %q missing or repeated", c, l)
		}
		seen[c.String()] = true
	}
	// A CLOSE reason handed over by the subscriptions seam is counted under the cause that
	// sends that very reason.
	for _, r := range []hl1.CloseReason{hl1.CloseSlowConsumer, hl1.CloseProtocolError, hl1.CloseAuthFailed,
		hl1.CloseTooManySubscribed, hl1.CloseIdleTimeout, hl1.CloseServerShutdown, hl1.CloseGrantRefused} {
		if got := causeOf(r).Code(); got != r {
			t.Errorf("CLOSE %d from the seam is counted as %v, which sends %d", r, causeOf(r), got)
		}
	}
	if CausePeer.Code() != 0 || CauseTooManyConnections.Code() != 0 {
		t.Fatal("no CLOSE frame goes to a peer that left or a connection refused at accept")
	}
	var s Stats
	s.closed(NumCloseCauses + 1) // not a cause: ignored, never out of bounds
	if s.Closes(NumCloseCauses+1) != 0 {
		t.Fatal("an invalid cause was counted")
	}
}
