package presencekv

import "testing"

func FuzzDecodeSessions(f *testing.F) {
	var c Codec
	b, _ := c.AppendSessions(nil, []Session{{User: 1, Device: 2, Status: 2, Since: 3}, {User: 9, Device: 1, Status: 1, Since: 1}})
	f.Add(b)
	f.Add([]byte{'P', 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		var c Codec
		out, err := c.DecodeSessions(nil, in)
		if err == nil {
			again, err := c.AppendSessions(nil, out)
			if err != nil {
				t.Fatalf("decoded sessions do not re-encode: %v", err)
			}
			if _, err := c.DecodeSessions(nil, again); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func FuzzDecodeLastSeen(f *testing.F) {
	var c Codec
	b, _ := c.AppendLastSeen(nil, []LastSeen{{1, 5}, {7, -3}})
	f.Add(b)
	f.Fuzz(func(t *testing.T, in []byte) {
		var c Codec
		out, err := c.DecodeLastSeen(nil, in)
		if err == nil {
			if _, err := c.AppendLastSeen(nil, out); err != nil {
				t.Fatalf("decoded entries do not re-encode: %v", err)
			}
		}
	})
}

func FuzzDecodeChangeRecord(f *testing.F) {
	var c Codec
	f.Add(c.AppendChangeRecord(nil, &ChangeRecord{Epoch: 7, Entries: []ChangeEntry{{Seq: 1, Transitions: []Transition{{Kind: 1, User: 5, Device: 1, Status: 2, At: 9}}}}}))
	f.Add([]byte{'C', 1, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		var c Codec
		var r ChangeRecord
		_ = c.DecodeChangeRecord(&r, in)
	})
}

func FuzzDecodeConfig(f *testing.F) {
	f.Add(EncodeConfig(Config{Version: ConfigVersion, Buckets: 4096}))
	f.Add([]byte(`{"version":1,"buckets":0}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := DecodeConfig(in)
		if err == nil && ValidateBuckets(c.Buckets) != nil {
			t.Fatalf("accepted a config with %d buckets", c.Buckets)
		}
	})
}

func FuzzParseKeys(f *testing.F) {
	f.Add(PresenceKey("hl", 7, "gw-1"))
	f.Add(ChangesKey("hl", "gw-1", 2))
	f.Add(LastSeenKey("hl", 9))
	f.Fuzz(func(t *testing.T, key string) {
		if b, gw, ok := ParsePresenceKey("hl", key); ok && (b >= MaxBuckets || ValidateGatewayID(gw) != nil) {
			t.Fatalf("ParsePresenceKey(%q) accepted bucket %d gateway %q", key, b, gw)
		}
		if gw, _, ok := ParseChangesKey("hl", key); ok && ValidateGatewayID(gw) != nil {
			t.Fatalf("ParseChangesKey(%q) accepted gateway %q", key, gw)
		}
		if b, ok := ParseLastSeenKey("hl", key); ok && b >= MaxBuckets {
			t.Fatalf("ParseLastSeenKey(%q) accepted bucket %d", key, b)
		}
	})
}
