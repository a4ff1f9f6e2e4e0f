package main

import "heartline/protocol/hl1"

// Session states.
const (
	stNeedHello uint8 = iota // queued for a HELLO
	stHelloSent              // HELLO outstanding (in the pending window)
	stOnline                 // welcomed: heartbeats flow
)

// Session flags.
const (
	flActive  uint8 = 1 << iota // foreground (the heartbeat's status bit)
	flInWheel                   // linked into a wheel bucket
)

// sessions is one worker's partition of the simulated sessions as parallel flat arrays
// (about 60 bytes per session, no pointers for the GC to scan): local index i is the
// session with global id i*workers+worker. Only the owning worker touches it.
type sessions struct {
	key       []hl1.MACKey
	slot      []uint32
	epoch     []uint32
	seq       []uint32
	welcomeAt []uint32 // worker clock (ms since start) when WELCOME arrived: ts base
	due       []uint32 // worker clock (ms) of the next heartbeat
	nonce     []uint32 // nonce of the last HELLO
	next      []int32  // wheel list link (-1 = end)
	logins    []uint16 // how many tokens this session has used (token nonce input)
	state     []uint8
	flags     []uint8
}

func newSessions(n int) *sessions {
	s := &sessions{
		key: make([]hl1.MACKey, n), slot: make([]uint32, n), epoch: make([]uint32, n),
		seq: make([]uint32, n), welcomeAt: make([]uint32, n), due: make([]uint32, n),
		nonce: make([]uint32, n), next: make([]int32, n), logins: make([]uint16, n),
		state: make([]uint8, n), flags: make([]uint8, n),
	}
	for i := range s.next {
		s.next[i] = -1
	}
	return s
}

func (s *sessions) len() int { return len(s.slot) }

// partitionSize returns how many of n sessions worker w of k owns (global ids w, w+k, ...).
func partitionSize(n, k, w int) int {
	if w >= n {
		return 0
	}
	return (n-w-1)/k + 1
}

// globalID returns the global session id of local index i in worker w of k.
func globalID(i, k, w int) uint64 { return uint64(i)*uint64(k) + uint64(w) }
