package main

import (
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"heartline/protocol/hl1"
	"heartline/scripts/proctest"
)

// On the wire, against the gateway binary with two loops: a listed relay's BATCH of unknown
// slots (spread over both loops' shards) is answered by exactly one REHELLOS frame, smaller
// than the BATCH; the same BATCH from an address not listed is dropped unanswered.
func TestRelayBatchIsAnsweredOnceAndOnlyForListedRelays(t *testing.T) {
	proctest.SkipShort(t)
	dir := t.TempDir()
	bin := proctest.Build(t, "heartline/gateway")[0]
	keyFile := filepath.Join(dir, "keys")
	if err := os.WriteFile(keyFile, []byte("7 "+hex.EncodeToString(make([]byte, 32))+" current\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	udp, admin := proctest.FreeAddr(t, "udp"), proctest.FreeAddr(t, "tcp")
	proctest.Start(t, dir, "gateway", bin, nil, "-udp-addr", udp, "-tcp-addr", "", "-admin-addr", admin,
		"-feed-socket", filepath.Join(dir, "feed.sock"), "-secret-file", keyFile, "-loops", "2", "-max-sessions", "1000",
		"-gateway-id", "gw-relay", "-relays", "127.0.0.1")
	proctest.WaitFor(t, 10*time.Second, "the gateway's admin port", func() bool {
		c, err := net.Dial("tcp", admin)
		if err == nil {
			c.Close()
		}
		return err == nil
	})

	var b hl1.Batch
	for s := uint32(1); s <= 40; s++ { // slots of both shards; no session holds any
		b.Slots, b.Words, b.Tags = append(b.Slots, uint64(s*7919)), append(b.Words, 1), append(b.Tags, uint64(s))
	}
	batch, err := hl1.AppendBatch(nil, &b)
	if err != nil {
		t.Fatal(err)
	}
	gw, _ := net.ResolveUDPAddr("udp", udp)
	// A lone heartbeat on an unknown slot is answered at once by the loop that took the
	// BATCH (same source, same socket): its REHELLO is a marker. A BATCH spread over two
	// loops is answered once the other loop's verdicts are in, maybe after the marker; so
	// the relay reads until both have come, then sends a second marker: anything else the
	// BATCH caused would have to arrive before that one (the reply was already complete).
	send := func(from string, wantAnswer bool) (answers [][]byte) {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(from)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		buf := make([]byte, 4096)
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		marker := func(slot uint32) {
			if _, err := c.WriteToUDP(hl1.AppendHeartbeat(nil, hl1.Heartbeat{Slot: slot, Word: 1, Tag: 1}), gw); err != nil {
				t.Fatal(err)
			}
		}
		readUntil := func(slot uint32, needAnswer bool) {
			seen := false
			for !seen || (needAnswer && len(answers) == 0) {
				n, err := c.Read(buf)
				if err != nil {
					t.Fatalf("from %s: waiting for the marker REHELLO (answers so far %d): %v", from, len(answers), err)
				}
				if r, err := hl1.ParseRehello(buf[:n]); err == nil && r.Slot == slot {
					seen = true
					continue
				}
				answers = append(answers, append([]byte(nil), buf[:n]...))
			}
		}
		if _, err := c.WriteToUDP(batch, gw); err != nil {
			t.Fatal(err)
		}
		marker(999_999)
		readUntil(999_999, wantAnswer)
		marker(999_998)
		readUntil(999_998, false)
		return answers
	}

	got := send("127.0.0.1", true)
	if len(got) != 1 {
		t.Fatalf("%d frames answered the relay's BATCH, want 1", len(got))
	}
	rs, err := hl1.ParseRehellos(got[0], nil)
	if err != nil || len(rs) != 40 {
		t.Fatalf("answer %x: %d entries (%v), want a REHELLOS of 40", got[0], len(rs), err)
	}
	if len(got[0]) >= len(batch) {
		t.Fatalf("answer %d bytes >= BATCH %d bytes", len(got[0]), len(batch))
	}
	if got := send("127.0.0.2", false); len(got) != 0 {
		t.Fatalf("%d frames answered a BATCH from an address not in -relays", len(got))
	}
	if n := metric(t, admin, regexp.QuoteMeta(`heartline_gateway_frames_dropped_total{reason="not_a_relay"}`)); n != 1 {
		t.Fatalf("not_a_relay %v, want 1", n)
	}
}
