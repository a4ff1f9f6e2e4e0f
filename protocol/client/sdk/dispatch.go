//go:build cgo

package main

/*
#include <stdint.h>

// hl_sdk_invoke calls the app's hl_event_fn (declared in heartline.h; void pointers here so
// this file need not repeat the public types).
static void hl_sdk_invoke(void *fn, void *ctx, int64_t handle, const void *ev) {
	((void (*)(void *, int64_t, const void *))fn)(ctx, handle, ev);
}
*/
import "C"

import (
	"runtime"
	"sync"
	"unsafe"
)

// The event thread: one goroutine locked to one OS thread for the life of the library.
// Every callback of every handle runs on it, one at a time, in each handle's event order.
// It is started by the first hl_set_event_callback. The app's callback must not block it
// (post the event to the UI thread and return); it may call hl_* functions, including
// hl_destroy of its own handle.

// callback is a registered hl_event_fn and its context pointer (C memory, never Go's).
type callback struct {
	fn, ctx unsafe.Pointer
}

var dispatcher struct {
	once    sync.Once
	mu      sync.Mutex
	pending map[int64]bool // handles with queued events to deliver
	cbs     map[int64]callback
	wake    chan struct{} // capacity 1: "pending is not empty"
	cEvent  unsafe.Pointer
}

// setCallback registers fn for s (fn nil: back to hl_poll_event).
func setCallback(s *session, fn, ctx unsafe.Pointer) {
	dispatcher.once.Do(startDispatcher)
	dispatcher.mu.Lock()
	if fn == nil {
		delete(dispatcher.cbs, s.id)
	} else {
		dispatcher.cbs[s.id] = callback{fn: fn, ctx: ctx}
	}
	dispatcher.mu.Unlock()
	if fn == nil {
		s.notify.Store(nil)
		return
	}
	id := s.id
	wake := func() { wakeDispatcher(id) }
	s.notify.Store(&wake)
	wake() // deliver what was queued before the callback was set
}

// forgetCallback drops the registration of a destroyed handle.
func forgetCallback(id int64) {
	dispatcher.mu.Lock()
	delete(dispatcher.cbs, id)
	delete(dispatcher.pending, id)
	dispatcher.mu.Unlock()
}

func startDispatcher() {
	dispatcher.pending = map[int64]bool{}
	dispatcher.cbs = map[int64]callback{}
	dispatcher.wake = make(chan struct{}, 1)
	dispatcher.cEvent = newCEvent()
	go dispatchLoop()
}

func wakeDispatcher(id int64) {
	dispatcher.mu.Lock()
	dispatcher.pending[id] = true
	dispatcher.mu.Unlock()
	select {
	case dispatcher.wake <- struct{}{}:
	default:
	}
}

func dispatchLoop() {
	runtime.LockOSThread() // never unlocked: this goroutine is the SDK's event thread
	var ids []int64
	for range dispatcher.wake {
		dispatcher.mu.Lock()
		ids = ids[:0]
		for id := range dispatcher.pending {
			ids = append(ids, id)
		}
		clear(dispatcher.pending)
		dispatcher.mu.Unlock()
		for _, id := range ids {
			deliverEvents(id)
		}
	}
}

// deliverEvents hands s's queued events to its callback, re-checking the registration
// before each one (a callback may unregister itself or destroy its handle).
func deliverEvents(id int64) {
	s, err := lookupHandle(id)
	if err != nil {
		return
	}
	for {
		dispatcher.mu.Lock()
		cb, ok := dispatcher.cbs[id]
		dispatcher.mu.Unlock()
		if !ok {
			return
		}
		e, ok := s.events.pop()
		if !ok {
			return
		}
		fillCEvent(dispatcher.cEvent, e)
		C.hl_sdk_invoke(cb.fn, cb.ctx, C.int64_t(id), dispatcher.cEvent)
	}
}
