package ingest

import (
	"errors"
	"fmt"
	"testing"

	"heartline/protocol/hl1"
	"heartline/protocol/token"
)

// Every label hl1.ReasonOf can give has its own DropReason with that very label (so metric
// series keep their names), except wrong_type, which the gateway never counts (it dispatches
// on the type byte; PROTOCOL.md's reason table says so); every reason's label is distinct
// and non-empty.
func TestDropReasonsCoverHL1AndHaveDistinctLabels(t *testing.T) {
	seen := map[string]DropReason{}
	for _, r := range DropReasons {
		l := r.String()
		if l == "" || l == "invalid" {
			t.Fatalf("reason %d has no label", r)
		}
		if o, dup := seen[l]; dup {
			t.Fatalf("reasons %d and %d share the label %q", o, r, l)
		}
		seen[l] = r
	}
	if _, ok := seen["wrong_type"]; ok {
		t.Fatal("wrong_type is a DropReason, but no frame can be dropped for it")
	}
	for _, l := range hl1.Reasons() {
		if l == "wrong_type" {
			continue
		}
		r, ok := seen[l]
		if !ok {
			t.Fatalf("hl1 reason %q has no DropReason: add one", l)
		}
		if l != "other" && r == ReasonOther {
			t.Fatalf("hl1 reason %q counted as other", l)
		}
	}
	for _, c := range []struct {
		err  error
		want DropReason
	}{
		{hl1.ErrBadMAC, ReasonBadMAC}, {hl1.ErrShort, ReasonShort}, {token.ErrExpired, ReasonTokenExpired},
		{fmt.Errorf("wrapped: %w", hl1.ErrReplay), ReasonReplay}, {errors.New("something else"), ReasonOther},
	} {
		if got := DropReasonOf(c.err); got != c.want {
			t.Errorf("DropReasonOf(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestDropCountingIsAllocationFreeAndBounded(t *testing.T) {
	var s Stats
	if n := testing.AllocsPerRun(100, func() { s.Drop(DropReasonOf(hl1.ErrBadMAC)) }); n != 0 {
		t.Fatalf("counting a bad MAC allocates %.1f times", n)
	}
	s.Drop(NumDropReasons + 3) // not a reason: counted as other, never out of bounds
	if s.Drops(ReasonBadMAC) != 101 || s.Drops(ReasonOther) != 1 {
		t.Fatalf("bad_mac %d other %d", s.Drops(ReasonBadMAC), s.Drops(ReasonOther))
	}
}
