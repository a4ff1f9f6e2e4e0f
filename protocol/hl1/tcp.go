package hl1

import (
	"encoding/binary"
	"errors"
	"io"
)

// TCP framing: every frame is preceded by its length, [len:2][frame:len], with
// 1 <= len <= MaxFrame. A length of 0 or above MaxFrame is a protocol error: the receiver
// closes the connection (after a CLOSE with reason CloseProtocolError).
const TCPHeaderSize = 2

// AppendTCP appends frame with its length prefix to dst. On error (empty or oversize frame)
// dst is returned unchanged.
func AppendTCP(dst, frame []byte) ([]byte, error) {
	if len(frame) == 0 {
		return dst, ErrBadLength
	}
	if len(frame) > MaxFrame {
		return dst, ErrTooLarge
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(frame)))
	return append(dst, frame...), nil
}

// BeginTCP reserves a length prefix in dst so a frame can be appended in place; finish
// with EndTCP(dst, start). Avoids a copy when encoding straight into a connection buffer:
//
//	buf, start := hl1.BeginTCP(buf)
//	buf, _ = hl1.AppendEvents(buf, evs)
//	buf, err = hl1.EndTCP(buf, start)
func BeginTCP(dst []byte) (out []byte, start int) {
	return append(dst, 0, 0), len(dst)
}

// EndTCP writes the length of the frame appended since BeginTCP returned start. If that
// frame is empty or larger than MaxFrame it removes the prefix and the frame and returns
// ErrBadLength / ErrTooLarge.
func EndTCP(dst []byte, start int) ([]byte, error) {
	n := len(dst) - start - TCPHeaderSize
	if n <= 0 {
		return dst[:start], ErrBadLength
	}
	if n > MaxFrame {
		return dst[:start], ErrTooLarge
	}
	binary.BigEndian.PutUint16(dst[start:], uint16(n))
	return dst, nil
}

// NextTCP finds the first complete frame in buf (bytes received on a TCP connection, e.g.
// gnet's Peek). It returns the frame (aliasing buf) and the bytes it occupies including the
// prefix, or (nil, 0, nil) when buf does not hold a whole frame yet (read more and call
// again), or ErrBadLength (length 0) / ErrTooLarge (length > MaxFrame): close the
// connection. It never allocates.
func NextTCP(buf []byte) (frame []byte, n int, err error) {
	if len(buf) < TCPHeaderSize {
		return nil, 0, nil
	}
	l := int(binary.BigEndian.Uint16(buf))
	if l == 0 {
		return nil, 0, ErrBadLength
	}
	if l > MaxFrame {
		return nil, 0, ErrTooLarge
	}
	if len(buf) < TCPHeaderSize+l {
		return nil, 0, nil
	}
	return buf[TCPHeaderSize : TCPHeaderSize+l], TCPHeaderSize + l, nil
}

// ReadTCPFrame reads one length-prefixed frame from r into buf and returns it (aliasing
// buf). Give it a buf of capacity MaxFrame to avoid allocation; a smaller one is replaced.
// It returns io.EOF if r ends cleanly before a frame, io.ErrUnexpectedEOF if it ends inside
// one, and ErrBadLength / ErrTooLarge for an invalid length.
func ReadTCPFrame(r io.Reader, buf []byte) ([]byte, error) {
	if cap(buf) < MaxFrame {
		buf = make([]byte, MaxFrame)
	}
	buf = buf[:cap(buf)]
	if _, err := io.ReadFull(r, buf[:TCPHeaderSize]); err != nil {
		return nil, err // io.EOF only if no byte was read
	}
	l := int(binary.BigEndian.Uint16(buf))
	if l == 0 {
		return nil, ErrBadLength
	}
	if l > MaxFrame {
		return nil, ErrTooLarge
	}
	if _, err := io.ReadFull(r, buf[:l]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf[:l], nil
}
