package ingest

import (
	"testing"
	"time"

	"heartline/protocol/hl1"
)

func drainingEnv(t *testing.T, pace DrainPace) (*testEnv, *Drain) {
	t.Helper()
	e := newEnv(t, 1)
	d := new(Drain)
	e.h = NewHandler(e.tb, 0, e.rec, nil, HandlerOptions{Keys: e.keys, Epoch: 0xE90C, Drain: d, DrainPace: pace, HelloPerSource: 1000, HelloBurst: 1000})
	return e, d
}

// rehellos returns the REHELLOs among frames.
func rehellos(t *testing.T, frames [][]byte) []hl1.Rehello {
	t.Helper()
	var out []hl1.Rehello
	for _, f := range frames {
		if typ, _ := hl1.PeekType(f); typ == hl1.TypeRehello {
			r, err := hl1.ParseRehello(f)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
		}
	}
	return out
}

// TestDrainAsksLiveSessionsToMoveAndKeepsThemOnline: while draining, a heartbeat is still
// accepted (the member stays online here until the app is welcomed elsewhere) and is
// answered with REHELLO 4 for its slot; a new HELLO gets REHELLO 4 instead of a session.
func TestDrainAsksLiveSessionsToMoveAndKeepsThemOnline(t *testing.T) {
	e, d := drainingEnv(t, DrainPace{PerLoop: 1000, PerSource: 1000})
	c := e.connect(t, 7, 1)
	e.now = e.now.Add(time.Second)
	e.send(c.beat(e.now, true, false))
	if got := len(rehellos(t, e.rec.frames)); got != 0 {
		t.Fatalf("%d REHELLOs before the drain", got)
	}

	d.Start(e.now)
	e.now = e.now.Add(time.Second)
	n := len(e.rec.frames)
	e.send(c.beat(e.now, true, false))
	if got := e.h.Stats.Heartbeats.Load(); got != 2 {
		t.Fatalf("heartbeats accepted %d, want 2: a draining gateway keeps its sessions until they leave", got)
	}
	rs := rehellos(t, e.rec.frames[n:])
	if len(rs) != 1 || rs[0].Slot != c.slot || rs[0].Reason != hl1.RehelloDraining {
		t.Fatalf("answers %+v, want one REHELLO 4 for slot %x", rs, c.slot)
	}
	if e.tb.Online() != 1 {
		t.Fatalf("sessions online %d, want 1", e.tb.Online())
	}

	// Someone new is turned away at once, not given a session.
	n = len(e.rec.frames)
	newcomer := newTestClient(t, e.keys, 8, 1)
	e.send(newcomer.hello(e.now, true))
	rs = rehellos(t, e.rec.frames[n:])
	if len(e.rec.frames) != n+1 || len(rs) != 1 || rs[0].Slot != 0 || rs[0].Reason != hl1.RehelloDraining {
		t.Fatalf("HELLO while draining answered %d frames %+v, want only REHELLO 4 slot 0", len(e.rec.frames)-n, rs)
	}
	if e.h.Stats.Drops(ReasonDraining) != 1 {
		t.Fatalf("draining drops %v", e.dropSummary())
	}

	// The operator stops the drain: heartbeats are quiet again and HELLOs welcome.
	d.Stop()
	e.now = e.now.Add(time.Second)
	n = len(e.rec.frames)
	e.send(c.beat(e.now, true, false))
	if len(e.rec.frames) != n {
		t.Fatalf("a heartbeat after the drain stopped was answered")
	}
	e.connect(t, 8, 1)
}

// TestDrainKeepsItsPace: the gateway asks at most PerLoop sessions a second to move, and at
// most PerSource from one address, so the gateways that take them in never refuse a HELLO.
func TestDrainKeepsItsPace(t *testing.T) {
	e, d := drainingEnv(t, DrainPace{PerLoop: 20, PerSource: 5})
	var cs []*testClient
	for u := uint64(1); u <= 40; u++ {
		cs = append(cs, e.connect(t, u, 1))
	}
	d.Start(e.now)
	sources := []Addr{e.from, e.from}
	sources[1].Raw[7] = 2 // a second IPv4 source address
	asked := func() uint64 { return e.h.Stats.DrainRehellos.Load() }

	// Every session heartbeats once a second, spread over the second, alternating between the
	// two addresses, until it is asked to move (then it leaves, as apps do).
	askedSlots := map[uint32]bool{}
	for sec := 0; sec < 10; sec++ {
		before := asked()
		n := len(e.rec.frames)
		for i, c := range cs {
			if askedSlots[c.slot] {
				continue
			}
			at := e.now.Add(time.Duration(sec)*time.Second + time.Duration(i)*time.Second/time.Duration(len(cs)))
			e.h.Frame(c.beat(at, true, false), &sources[i%2], nil, Now{Time: at, Tick: e.tb.Tick(at)})
		}
		if got := asked() - before; got > 2*5+2 { // 5/s per source, plus a burst of 1 each
			t.Fatalf("second %d: asked %d apps to move, more than 2 sources x 5/s", sec, got)
		}
		for _, r := range rehellos(t, e.rec.frames[n:]) {
			if askedSlots[r.Slot] {
				t.Fatalf("slot %x asked twice", r.Slot)
			}
			askedSlots[r.Slot] = true
		}
	}
	// 40 apps at 10/s: all asked within the 10 s (about 4 s), none twice.
	if len(askedSlots) != 40 || asked() != 40 {
		t.Fatalf("asked %d of 40 sessions (%d REHELLO 4s) in 10 s at 10/s", len(askedSlots), asked())
	}
}
