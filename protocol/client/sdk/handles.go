package main

import "sync"

// The handle table: C holds int64 ids, never Go pointers. Ids count up from 1 and are never
// reused, so a stale or made-up id is simply not found (HL_ERR_INVALID_HANDLE), including a
// second hl_destroy of the same handle.
var handles = struct {
	sync.Mutex
	next int64
	m    map[int64]*session
}{m: map[int64]*session{}}

// maxHandles bounds the table: an app leaking handles gets an error, not unbounded memory.
const maxHandles = 1024

func addHandle(s *session) (int64, error) {
	handles.Lock()
	defer handles.Unlock()
	if len(handles.m) >= maxHandles {
		return 0, errorf(codeState, "heartline: %d handles are open: hl_destroy the ones you no longer use", maxHandles)
	}
	handles.next++
	s.id = handles.next
	handles.m[s.id] = s
	return s.id, nil
}

func lookupHandle(id int64) (*session, error) {
	handles.Lock()
	defer handles.Unlock()
	s, ok := handles.m[id]
	if !ok {
		return nil, errInvalidHandle
	}
	return s, nil
}

// removeHandle takes the session out of the table; later calls with id fail.
func removeHandle(id int64) (*session, error) {
	handles.Lock()
	defer handles.Unlock()
	s, ok := handles.m[id]
	if !ok {
		return nil, errInvalidHandle
	}
	delete(handles.m, id)
	return s, nil
}
