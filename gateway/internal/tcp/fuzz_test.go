package tcp

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/panjf2000/gnet/v2"

	"heartline/gateway/internal/table"
	"heartline/protocol/hl1"
)

// fuzzSeam records what reaches the seam into the current transcript; a frame whose last
// byte is 0xEE is refused (CLOSE 4), so refusals are exercised too.
type fuzzSeam struct{ log *strings.Builder }

func (f *fuzzSeam) note(kind string, frame []byte) hl1.CloseReason {
	fmt.Fprintf(f.log, "%s %x\n", kind, frame)
	if frame[len(frame)-1] == 0xEE {
		return hl1.CloseTooManySubscribed
	}
	return 0
}
func (f *fuzzSeam) Subscribe(_ Conn, b []byte) hl1.CloseReason   { return f.note("sub", b) }
func (f *fuzzSeam) Unsubscribe(_ Conn, b []byte) hl1.CloseReason { return f.note("unsub", b) }
func (f *fuzzSeam) Grant(_ Conn, b []byte) hl1.CloseReason       { return f.note("grant", b) }
func (f *fuzzSeam) Closed(Conn)                                  {}

// fuzzStreamMax bounds a fuzzed stream so that its frames (3 bytes at least) always fit the
// queues: a whole stream and its chunks must then meet the same rules.
const fuzzStreamMax = 8192

func newFuzzServer(tb testing.TB) (*Server, *fuzzSeam) {
	t, err := table.New(table.Options{Shards: 1, SessionsPerShard: 16, Start: t0})
	if err != nil {
		tb.Fatal(err)
	}
	seam := &fuzzSeam{}
	s := New(t, Options{WorkQueue: fuzzStreamMax, ConnQueue: fuzzStreamMax, Subscriptions: seam, MaxConnsPerAddr: 1 << 20})
	return s, seam
}

// feed runs one connection through the server's event-loop code with the stream cut into
// chunks (each cut byte + 1 is a chunk length; the rest goes last), checking the bounds
// after every chunk, and returns a transcript of everything the connection caused.
func feed(t *testing.T, s *Server, seam *fuzzSeam, stream, cuts []byte, authed bool) string {
	var seamOut, workOut strings.Builder // apart: the worker runs beside the event loop
	seam.log = &seamOut
	fc := &fakeGnetConn{}
	if _, a := s.OnOpen(fc); a != gnet.None {
		t.Fatal("connection refused")
	}
	c := fc.ctx.(*conn)
	if authed {
		c.welcomed()
	}
	chunks := make([][]byte, 0, len(cuts)+1)
	for _, cut := range cuts {
		n := min(int(cut)+1, len(stream))
		chunks, stream = append(chunks, stream[:n]), stream[n:]
	}
	chunks = append(chunks, stream)
	for _, chunk := range chunks {
		fc.receive(s, chunk)
		for drained := false; !drained; {
			select {
			case w := <-s.work:
				fmt.Fprintf(&workOut, "work %x\n", w.b[:w.len])
				w.c.queued.Add(-1)
			default:
				drained = true
			}
		}
		switch {
		case fc.closed && len(fc.in) != 0:
			t.Fatalf("a closed connection keeps %d inbound bytes", len(fc.in))
		case len(fc.in) >= hl1.TCPHeaderSize+hl1.MaxFrame:
			t.Fatalf("%d inbound bytes buffered: more than one frame", len(fc.in))
		case c.pending != len(fc.in):
			t.Fatalf("pending %d, buffered %d", c.pending, len(fc.in))
		}
	}
	s.OnClose(fc, nil)
	return fmt.Sprintf("%s%swritten %x closed %v cause %d", &seamOut, &workOut, fc.written, fc.closed, c.cause.Load())
}

// FuzzTCPConn feeds arbitrary bytes, cut into arbitrary chunks, to the per-connection state
// machine (framing and the rules of rules.go), on a fresh or an authenticated connection.
// It must never panic, never buffer more than one frame, and the chunking must not matter:
// the transcript equals that of the whole stream in one read.
func FuzzTCPConn(f *testing.F) {
	hello := mustTCP(append([]byte{0x11}, bytes.Repeat([]byte{1}, hl1.HelloSize-1)...))
	beat := mustTCP(append([]byte{0x13}, bytes.Repeat([]byte{2}, hl1.HeartbeatSize-1)...))
	sub, _ := hl1.AppendSubscribe(nil, &hl1.Subscription{UserIDs: []uint64{1, 2, 3}})
	refused := mustTCP(hl1.AppendGrant(nil, []byte{1, 0xEE}))
	stream := append(append(append([]byte{}, beat...), mustTCP(sub)...), beat...)
	f.Add(hello, []byte{0, 9, 30}, false)
	f.Add(append(hello, beat...), []byte{1}, false)
	f.Add(stream, []byte{0, 1, 2, 3, 4, 5, 6, 7}, true)
	f.Add(append(stream, hello...), []byte{18, 0, 40}, true)
	f.Add(append(beat, refused...), []byte{2, 2, 2}, true)
	f.Add([]byte{0, 0, 0x11}, []byte{0}, false)
	f.Add([]byte{0xff, 0xff, 1, 2, 3}, []byte{1}, true)
	f.Add([]byte{0x10, 0x01, 0x11}, []byte{0, 0}, false)
	s, seam := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, stream, cuts []byte, authed bool) {
		if len(stream) > fuzzStreamMax {
			stream = stream[:fuzzStreamMax]
		}
		whole := feed(t, s, seam, stream, nil, authed)
		split := feed(t, s, seam, stream, cuts, authed)
		if whole != split {
			t.Fatalf("chunking changed the outcome:\nwhole:\n%s\nchunked %v:\n%s", whole, cuts, split)
		}
	})
}

// The fuzz target's transcript is not vacuous: a valid stream on an authenticated
// connection reaches the worker and the seam, and a protocol error ends in CLOSE 2.
func TestFeedTranscriptShowsWhatHappened(t *testing.T) {
	s, seam := newFuzzServer(t)
	beat := mustTCP(append([]byte{0x13}, bytes.Repeat([]byte{2}, hl1.HeartbeatSize-1)...))
	sub, _ := hl1.AppendSubscribe(nil, &hl1.Subscription{UserIDs: []uint64{1, 2, 3}})
	got := feed(t, s, seam, append(append(append([]byte{}, beat...), mustTCP(sub)...), 0, 0), []byte{3, 3, 3}, true)
	want := fmt.Sprintf("sub %x\nwork %x\nwritten %x closed true cause %d", sub, beat[2:], mustTCP(hl1.AppendClose(nil, hl1.CloseProtocolError)), CauseProtocolError+1)
	if got != want {
		t.Fatalf("transcript\n%s\nwant\n%s", got, want)
	}
}
