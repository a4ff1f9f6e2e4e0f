package privacy

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"heartline/protocol/token"
)

func testRing(t testing.TB) *token.KeyRing {
	t.Helper()
	r, err := token.ParseKeyRing(bytes.NewReader([]byte("1 " + string(bytes.Repeat([]byte("ab"), 32)) + " current\n")))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestAllowedRule(t *testing.T) {
	const v, s = 7, 9
	cases := []struct {
		name    string
		viewer  uint64
		basis   Basis
		mode    Mode
		revoked Revoke
		want    bool
	}{
		{"anonymous sees nobody", 0, BasisMatch, ModeMembers, Revoke{}, false},
		{"member sees members-mode", v, BasisMember, ModeMembers, Revoke{}, true},
		{"blocked viewer (basis none)", v, BasisNone, ModeMembers, Revoke{}, false},
		{"non-match of a match-only member", v, BasisMember, ModeMatches, Revoke{}, false},
		{"match of a match-only member", v, BasisMatch, ModeMatches, Revoke{}, true},
		{"invisible hides from matches", v, BasisMatch, ModeNobody, Revoke{}, false},
		{"blocked after issue", v, BasisMatch, ModeMembers, Revoke{2000, RevokeBlock}, false},
		{"blocked long before issue", v, BasisMatch, ModeMembers, Revoke{1000 - ClockSkew.Milliseconds() - 1, RevokeBlock}, true},
		{"blocked within the skew before issue", v, BasisMatch, ModeMembers, Revoke{900, RevokeBlock}, false},
		{"unmatched: a members-mode subject stays visible", v, BasisMatch, ModeMembers, Revoke{2000, RevokeUnmatch}, true},
		{"unmatched: a match-only subject is hidden", v, BasisMatch, ModeMatches, Revoke{2000, RevokeUnmatch}, false},
	}
	for _, c := range cases {
		if got := Allowed(c.viewer, s, c.basis, 1000, c.mode, c.revoked); got != c.want {
			t.Errorf("%s: Allowed = %v, want %v", c.name, got, c.want)
		}
	}
	if !Allowed(s, s, BasisNone, 0, ModeNobody, Revoke{5000, RevokeBlock}) {
		t.Error("a member must always see themself")
	}
}

func TestRecency(t *testing.T) {
	now := time.UnixMilli(10 * 24 * 3600 * 1000)
	for _, c := range []struct {
		ago  time.Duration
		want Recency
	}{{time.Minute, RecencyToday}, {23 * time.Hour, RecencyToday}, {25 * time.Hour, RecencyWeek}, {8 * 24 * time.Hour, RecencyNone}} {
		if got := RecencyOf(now.Add(-c.ago).UnixMilli(), now); got != c.want {
			t.Errorf("%v ago: %v, want %v", c.ago, got, c.want)
		}
	}
	if RecencyOf(0, now) != RecencyNone {
		t.Error("never seen must be none")
	}
	ls := now.Add(-30 * time.Hour).UnixMilli()
	if c := CoarseLastSeenMS(ls, now); c%(24*3600*1000) != 0 || int64(c) > ls || ls-int64(c) >= 24*3600*1000 {
		t.Errorf("CoarseLastSeenMS(%d) = %d: want that day's midnight", ls, c)
	}
}

func TestGrantRoundTripAndTamper(t *testing.T) {
	ring := testRing(t)
	g := &Grant{Viewer: 5, IssuedMS: 1000, ExpiresMS: 9000, Subjects: []uint64{3, 100001, 100002, 5000001, 5000002}, Basis: []Basis{BasisNone, BasisMember, BasisMatch, BasisMember, BasisNone}}
	b, err := Seal(nil, ring, g)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Open(ring, b, 2000)
	if err != nil {
		t.Fatal(err)
	}
	if got.Viewer != 5 || got.IssuedMS != 1000 || got.ExpiresMS != 9000 || len(got.Subjects) != 5 {
		t.Fatalf("round trip: %+v", got)
	}
	for i, s := range g.Subjects {
		if got.BasisOf(s) != g.Basis[i] {
			t.Errorf("basis of %d: %v, want %v", s, got.BasisOf(s), g.Basis[i])
		}
	}
	if got.BasisOf(42) != BasisNone {
		t.Error("a subject the grant does not name must have no basis")
	}
	if _, err := Open(ring, b, 9000); !errors.Is(err, ErrGrantExpired) {
		t.Errorf("expired grant: %v", err)
	}
	for i := range b {
		bad := bytes.Clone(b)
		bad[i] ^= 0x40
		if _, err := Open(ring, bad, 2000); err == nil {
			t.Fatalf("flipping byte %d still opened", i)
		}
	}
	other, _ := token.ParseKeyRing(bytes.NewReader([]byte("1 " + string(bytes.Repeat([]byte("cd"), 32)) + " current\n")))
	if _, err := Open(other, b, 2000); !errors.Is(err, ErrGrantBadSeal) {
		t.Errorf("other secret: %v", err)
	}
	// The sealed form does not show the subjects in clear.
	if bytes.Contains(b, []byte{0x00, 0x01, 0x86, 0xa1}) {
		t.Error("subject id visible in the sealed grant")
	}
}

func TestGrantLimits(t *testing.T) {
	ring := testRing(t)
	ids := make([]uint64, MaxGrantSubjects+1)
	basis := make([]Basis, len(ids))
	for i := range ids {
		ids[i] = 100001 + uint64(i)
	}
	if _, err := Seal(nil, ring, &Grant{Viewer: 1, ExpiresMS: 1, Subjects: ids, Basis: basis}); !errors.Is(err, ErrGrantTooLarge) {
		t.Errorf("too many: %v", err)
	}
	// A full grant of sequential-ish member ids fits one frame.
	b, err := Seal(nil, ring, &Grant{Viewer: 1, ExpiresMS: 1, Subjects: ids[:MaxGrantSubjects], Basis: basis[:MaxGrantSubjects]})
	if err != nil || len(b) > MaxSealedGrant {
		t.Fatalf("full grant: %d bytes, %v", len(b), err)
	}
	if _, err := Seal(nil, ring, &Grant{Viewer: 1, Subjects: []uint64{2, 1}, Basis: []Basis{1, 1}}); err == nil {
		t.Error("unsorted subjects sealed")
	}
}

func TestRecordRoundTripAndPrune(t *testing.T) {
	var r Record
	r.SetMode(64, ModeNobody)
	r.SetMode(128, ModeMatches)
	r.SetMode(192, ModeMatches)
	r.SetMode(192, ModeMembers)
	r.Revoke(64, 7, 1000, RevokeUnmatch)
	r.Revoke(64, 3, 2000, RevokeUnmatch)
	r.Revoke(128, 9, 500, RevokeBlock)
	r.Revoke(64, 7, 1500, RevokeBlock)
	got, err := DecodeRecord(r.Append(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Modes) != 2 || got.Modes[64] != ModeNobody || got.Modes[128] != ModeMatches {
		t.Errorf("modes: %v", got.Modes)
	}
	want := []Revocation{{64, 3, 2000, RevokeUnmatch}, {64, 7, 1500, RevokeBlock}, {128, 9, 500, RevokeBlock}}
	if len(got.Revoked) != len(want) {
		t.Fatalf("revoked: %v", got.Revoked)
	}
	for i := range want {
		if got.Revoked[i] != want[i] {
			t.Errorf("revoked[%d] = %v, want %v", i, got.Revoked[i], want[i])
		}
	}
	got.Prune(1500)
	if len(got.Revoked) != 1 || got.Revoked[0].Viewer != 3 {
		t.Errorf("after prune: %v", got.Revoked)
	}
	if _, err := DecodeRecord([]byte("XX1")); !errors.Is(err, ErrRecordMagic) {
		t.Errorf("bad magic: %v", err)
	}
	if _, err := DecodeRecord(append(r.Append(nil), 0)); !errors.Is(err, ErrRecordCorrupt) {
		t.Errorf("trailing byte: %v", err)
	}
	if b, ok := ParseRecordKey("hl", RecordKey("hl", 63)); !ok || b != 63 {
		t.Errorf("ParseRecordKey: %d %v", b, ok)
	}
	if _, ok := ParseRecordKey("hl", "hl/privacy/064"); ok {
		t.Error("bucket 64 accepted")
	}
}
