package feed

import (
	"bufio"
	"encoding/binary"
	"io"
	"math"

	"heartline/protocol/bitpack"
)

// Reader reads frames from a feed connection. It reuses one body buffer (at most MaxFrame
// bytes) and one record slice, so its memory is bounded whatever the peer sends.
type Reader struct {
	br    *bufio.Reader
	body  []byte
	dec   Decoder
	frame Frame
}

// NewReader returns a Reader on r (typically a *net.UnixConn).
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 64<<10)}
}

// Next reads and decodes the next frame. The returned Frame, and its Records, are valid
// until the next call. io.EOF means the peer closed the connection between frames.
func (r *Reader) Next() (*Frame, error) {
	var hdr [headerLen]byte
	if _, err := io.ReadFull(r.br, hdr[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			return nil, ErrTruncated
		}
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 {
		return nil, ErrEmptyFrame
	}
	if n > MaxFrame {
		return nil, ErrFrameTooLarge
	}
	if cap(r.body) < int(n) {
		r.body = make([]byte, n)
	}
	r.body = r.body[:n]
	if _, err := io.ReadFull(r.br, r.body); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, ErrTruncated
		}
		return nil, err
	}
	if err := r.dec.Decode(r.body, &r.frame); err != nil {
		return nil, err
	}
	return &r.frame, nil
}

// Decoder decodes one frame body (type byte + body, without the length prefix). It keeps
// scratch columns between calls; the zero value is ready to use.
type Decoder struct {
	users, devices []uint64
	times          []int64
}

// Decode decodes b (type byte followed by the body) into f, reusing f.Records.
func (d *Decoder) Decode(b []byte, f *Frame) error {
	if len(b) == 0 {
		return ErrEmptyFrame
	}
	if len(b) > MaxFrame {
		return ErrFrameTooLarge
	}
	f.Type = FrameType(b[0])
	f.Hello = Hello{}
	f.Seq, f.Count, f.Upstream = 0, 0, 0
	f.Records = f.Records[:0]
	body := b[1:]
	switch f.Type {
	case FrameHello:
		return decodeHello(body, &f.Hello)
	case FrameSnapshotBegin:
		if len(body) < 16 {
			return ErrTruncated
		}
		if len(body) > 16 {
			return ErrTrailing
		}
		f.Seq = binary.BigEndian.Uint64(body)
		f.Count = binary.BigEndian.Uint64(body[8:])
		return nil
	case FrameSnapshotEnd:
		if len(body) < 8 {
			return ErrTruncated
		}
		if len(body) > 8 {
			return ErrTrailing
		}
		f.Seq = binary.BigEndian.Uint64(body)
		return nil
	case FrameSnapshotRequest:
		if len(body) > 0 {
			return ErrTrailing
		}
		return nil
	case FrameUpstream:
		if len(body) < 1 {
			return ErrTruncated
		}
		if len(body) > 1 {
			return ErrTrailing
		}
		f.Upstream = Upstream(body[0])
		if f.Upstream != UpstreamReachable && f.Upstream != UpstreamCutOff {
			return ErrBadUpstream
		}
		return nil
	case FrameRecords, FrameSnapshotChunk:
		return d.decodeRecords(body, f)
	}
	return ErrUnknownFrame
}

func decodeHello(b []byte, h *Hello) error {
	const fixed = 1 + 4 + 8 + 1
	if len(b) < fixed {
		return ErrTruncated
	}
	h.Version = b[0]
	if h.Version < MinVersion || h.Version > Version {
		return ErrBadHello
	}
	h.Epoch = binary.BigEndian.Uint32(b[1:])
	h.StartedAt = int64(binary.BigEndian.Uint64(b[5:]))
	idLen := int(b[13])
	if idLen > MaxGatewayID {
		return ErrBadHello
	}
	rest := b[fixed:]
	if len(rest) < idLen {
		return ErrTruncated
	}
	if len(rest) > idLen {
		return ErrTrailing
	}
	h.GatewayID = string(rest)
	return nil
}

func (d *Decoder) decodeRecords(b []byte, f *Frame) error {
	first, n1 := binary.Uvarint(b)
	if n1 <= 0 {
		return ErrTruncated
	}
	count, n2 := binary.Uvarint(b[n1:])
	if n2 <= 0 {
		return ErrTruncated
	}
	if count > MaxRecords {
		return ErrTooMany
	}
	if f.Type == FrameSnapshotChunk && first != 0 {
		return ErrBadRecord
	}
	if count > 0 && first > math.MaxUint64-(count-1) {
		return ErrBadRecord
	}
	b = b[n1+n2:]
	if uint64(len(b)) < count {
		return ErrTruncated
	}
	flags := b[:count]
	b = b[count:]
	var err error
	var n int
	if d.users, n, err = bitpack.DecodeUnsorted(d.users[:0], b, int(count)); err != nil {
		return wrapCodec(err)
	}
	b = b[n:]
	if d.devices, n, err = bitpack.DecodeUnsorted(d.devices[:0], b, int(count)); err != nil {
		return wrapCodec(err)
	}
	b = b[n:]
	if d.times, n, err = bitpack.DecodeSigned(d.times[:0], b, int(count)); err != nil {
		return wrapCodec(err)
	}
	b = b[n:]
	if len(b) > 0 {
		return ErrTrailing
	}
	if uint64(len(d.users)) != count || uint64(len(d.devices)) != count || uint64(len(d.times)) != count {
		return ErrBadRecord
	}
	for i := 0; i < int(count); i++ {
		if d.devices[i] > math.MaxUint32 {
			return ErrBadRecord
		}
		r := Record{
			Kind:   Kind(flags[i] >> 4),
			Status: Status(flags[i] & 0x0f),
			User:   d.users[i],
			Device: uint32(d.devices[i]),
			At:     d.times[i],
		}
		if f.Type == FrameRecords {
			r.Seq = first + uint64(i)
		}
		if !validRecord(&r) {
			return ErrBadRecord
		}
		f.Records = append(f.Records, r)
	}
	return nil
}

// wrapCodec maps codec errors onto feed errors, keeping the codec's message.
func wrapCodec(err error) error {
	return &codecError{err}
}

type codecError struct{ err error }

func (e *codecError) Error() string { return "feed: record columns: " + e.err.Error() }
func (e *codecError) Unwrap() error { return e.err }
