package hl1

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

func tcpStream(t *testing.T) ([]byte, [][]byte) {
	t.Helper()
	evF, _ := AppendEvents(nil, sampleEvents())
	frames := [][]byte{AppendHello(nil, sampleHello()), AppendHeartbeat(nil, sampleHeartbeat()), AppendClose(nil, 2), evF, bytes.Repeat([]byte{0x19}, MaxFrame)}
	var stream []byte
	for _, f := range frames {
		var err error
		if stream, err = AppendTCP(stream, f); err != nil {
			t.Fatal(err)
		}
	}
	return stream, frames
}

// The reader-side helper, fed a stream in arbitrary pieces, yields exactly the frames sent.
func TestNextTCPSplits(t *testing.T) {
	stream, frames := tcpStream(t)
	for _, chunk := range []int{1, 2, 3, 7, 100, len(stream)} {
		var pending []byte
		var got [][]byte
		for off := 0; off < len(stream); off += chunk {
			pending = append(pending, stream[off:min(off+chunk, len(stream))]...)
			for {
				f, n, err := NextTCP(pending)
				if err != nil {
					t.Fatalf("chunk %d: %v", chunk, err)
				}
				if n == 0 {
					if f != nil {
						t.Fatal("need-more returned a frame")
					}
					break
				}
				got = append(got, bytes.Clone(f))
				pending = pending[n:]
			}
		}
		if len(pending) != 0 || len(got) != len(frames) {
			t.Fatalf("chunk %d: %d frames, %d bytes left", chunk, len(got), len(pending))
		}
		for i := range frames {
			if !bytes.Equal(got[i], frames[i]) {
				t.Fatalf("chunk %d: frame %d differs", chunk, i)
			}
		}
	}
}

func TestTCPErrors(t *testing.T) {
	if _, _, err := NextTCP([]byte{0, 0, 0x13}); err != ErrBadLength {
		t.Errorf("len 0: %v", err)
	}
	if _, _, err := NextTCP([]byte{0x10, 0x01}); err != ErrTooLarge {
		t.Errorf("len 4097: %v", err)
	}
	if f, n, err := NextTCP([]byte{0x10, 0x00}); f != nil || n != 0 || err != nil {
		t.Errorf("len 4096 with no body should ask for more: %v %d %v", f, n, err)
	}
	if out, err := AppendTCP([]byte{9}, nil); err != ErrBadLength || len(out) != 1 {
		t.Errorf("AppendTCP empty: %v", err)
	}
	if out, err := AppendTCP([]byte{9}, make([]byte, MaxFrame+1)); err != ErrTooLarge || len(out) != 1 {
		t.Errorf("AppendTCP oversize: %v", err)
	}
	b, s := BeginTCP([]byte{9})
	if out, err := EndTCP(b, s); err != ErrBadLength || !bytes.Equal(out, []byte{9}) {
		t.Errorf("EndTCP empty: %v %x", err, out)
	}
	b, s = BeginTCP([]byte{9})
	if out, err := EndTCP(append(b, make([]byte, MaxFrame+1)...), s); err != ErrTooLarge || !bytes.Equal(out, []byte{9}) {
		t.Errorf("EndTCP oversize: %v", err)
	}
	b, s = BeginTCP([]byte{9})
	out, err := EndTCP(AppendClose(b, 6), s)
	if err != nil || !bytes.Equal(out, []byte{9, 0, 2, 0x1A, 6}) {
		t.Errorf("BeginTCP/EndTCP: %x %v", out, err)
	}
}

func TestReadTCPFrame(t *testing.T) {
	stream, frames := tcpStream(t)
	for _, r := range []io.Reader{bytes.NewReader(stream), iotest.OneByteReader(bytes.NewReader(stream)), iotest.HalfReader(bytes.NewReader(stream))} {
		buf := make([]byte, MaxFrame)
		for i := range frames {
			f, err := ReadTCPFrame(r, buf)
			if err != nil || !bytes.Equal(f, frames[i]) {
				t.Fatalf("frame %d: %v", i, err)
			}
		}
		if _, err := ReadTCPFrame(r, buf); err != io.EOF {
			t.Fatalf("clean end: %v", err)
		}
	}
	for name, c := range map[string]struct {
		in   []byte
		want error
	}{
		"half header": {[]byte{0}, io.ErrUnexpectedEOF},
		"short body":  {[]byte{0, 3, 0x1A}, io.ErrUnexpectedEOF},
		"no body":     {[]byte{0, 3}, io.ErrUnexpectedEOF},
		"len 0":       {[]byte{0, 0}, ErrBadLength},
		"len 4097":    {[]byte{0x10, 1}, ErrTooLarge},
	} {
		if _, err := ReadTCPFrame(bytes.NewReader(c.in), nil); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}
