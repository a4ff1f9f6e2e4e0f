package main

import (
	"heartline/benchmarks/mmsg"
)

// transport is a worker's socket: batched sends, non-blocking batched receives. The
// Linux implementation is mmsg.Conn (sendmmsg/recvmmsg); tests use an in-memory fake.
type transport interface {
	Send(frames [][]byte, to []mmsg.Sockaddr) (int, error)
	Recv(sizes []int, from []mmsg.Sockaddr) (int, error) // mmsg.ErrWouldBlock when empty
	Buffers() [][]byte                                   // where Recv puts datagrams
}

type mmsgTransport struct{ *mmsg.Conn }

func (t mmsgTransport) Buffers() [][]byte { return t.Conn.Bufs }
