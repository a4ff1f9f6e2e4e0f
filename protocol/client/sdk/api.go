//go:build cgo

package main

/*
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// Heartline native app SDK: the HL1 reference client behind a C API.
// Guide: protocol/APPS.md ("Native SDK"). Generated from protocol/client/sdk/api.go.
//
// Every call returns HL_OK (0) or a negative HL_ERR_* code (hl_create: a handle > 0 or a
// negative code); after an error, hl_last_error gives this thread's message. No call
// crashes on bad input: made-up or destroyed handles, NULL pointers, calls after logout
// and double destroy all return codes. Calls are thread-safe. No call blocks on the network
// except hl_logout (one BYE datagram or write) and hl_stop / hl_destroy (closing sockets).
//
//   hl_version(buf, len)                    version text into buf; returns HL_ABI_VERSION
//   hl_last_error(buf, len)                 this thread's last error message; returns its length
//   hl_create(token, session_key, gateways, transport)
//                                           handle from POST /api/session's fields as returned
//   hl_start(h) / hl_stop(h)                HELLO in the background / stop without BYE
//   hl_set_active(h, 0|1)                   background / foreground (status sent at once)
//   hl_set_background_policy(h, policy, linger_ms)
//   hl_logout(h)                            BYE; the handle is retired
//   hl_grant(h, grant)                      POST /api/grant's "grant" as returned (TCP)
//   hl_subscribe(h, ids, n) / hl_unsubscribe(h, ids, n)                          (TCP)
//   hl_set_event_callback(h, fn, ctx)       events on the SDK's event thread (fn NULL: poll)
//   hl_poll_event(h, &ev)                   1 event taken, 0 none waiting
//   hl_get_status(h, &st)                   state, session, queue counters
//   hl_destroy(h)                           stop without BYE and free the handle

#define HL_ABI_VERSION 1

typedef const char hl_cchar;     // string arguments: const char *, NUL-terminated UTF-8
typedef const uint64_t hl_cid;   // member id arguments: const uint64_t *

#define HL_OK 0
#define HL_ERR_INVALID_HANDLE (-1)   // never created, or already destroyed
#define HL_ERR_INVALID_ARGUMENT (-2) // NULL or malformed argument (see hl_last_error)
#define HL_ERR_LOGGED_OUT (-3)       // the handle logged out: only hl_get_status and hl_destroy work
#define HL_ERR_STATE (-4)            // not allowed in this state (e.g. hl_start twice)
#define HL_ERR_NEEDS_TCP (-5)        // grants and subscriptions need HL_TRANSPORT_TCP
#define HL_ERR_NETWORK (-6)          // the gateway could not be reached or written to
#define HL_ERR_INTERNAL (-7)         // a bug in the SDK (reported, not crashed)

#define HL_TRANSPORT_UDP 0 // heartbeats over UDP: cheapest on the air; no subscriptions
#define HL_TRANSPORT_TCP 1 // heartbeats, grants and subscriptions on one TCP connection

#define HL_STATE_IDLE 0       // created or stopped: no traffic
#define HL_STATE_CONNECTING 1 // saying HELLO (retries with backoff until a gateway answers)
#define HL_STATE_ONLINE 2     // welcomed; heartbeating (re-HELLOs by itself when needed)
#define HL_STATE_PAUSED 3     // the background policy sent BYE; HELLO again on hl_set_active(h, 1)
#define HL_STATE_LOGGED_OUT 4 // hl_logout sent BYE; hl_destroy the handle

#define HL_BG_KEEP 0      // in the background keep heartbeating (status away) while the OS lets the app run
#define HL_BG_BYE_AFTER 1 // default: BYE after linger_ms in the background (default 30000); HELLO on foreground

#define HL_EVENT_PRESENCE 1 // a subscribed member's presence: user_id, state, devices, last_seen_ms, version
#define HL_EVENT_STATE 2    // this handle's state changed: state is the new HL_STATE_*

#define HL_PRESENCE_OFFLINE 0
#define HL_PRESENCE_ONLINE 2

// hl_event is valid only during the callback / until the next hl_poll_event.
typedef struct hl_event {
	int32_t kind;          // HL_EVENT_*
	int32_t state;         // HL_PRESENCE_* (presence) or HL_STATE_* (state)
	uint64_t user_id;      // the member (state events: this handle's own member)
	uint32_t devices;      // presence: 1 when online (coarse), 0 offline
	uint32_t reserved;
	uint64_t last_seen_ms; // presence, offline: UTC midnight of the last day seen (0: unknown)
	uint64_t version;      // presence: keep the highest per member; ignore lower ones
} hl_event;

// hl_event_fn runs on the SDK's event thread (one thread the SDK owns, the same for every
// handle, never the app's main thread). Return quickly: post to the UI thread.
typedef void (*hl_event_fn)(void *ctx, int64_t handle, const hl_event *event);

typedef struct hl_status {
	int32_t state;             // HL_STATE_*
	int32_t active;            // 1 foreground, 0 background
	int32_t transport;         // HL_TRANSPORT_*
	int32_t background_policy; // HL_BG_*
	int64_t linger_ms;         // background time before BYE under HL_BG_BYE_AFTER
	uint64_t user_id;
	uint32_t slot;             // the session the gateway granted (HL_STATE_ONLINE only)
	uint32_t epoch;
	int64_t interval_ms;       // heartbeat interval from the gateway's WELCOME
	int32_t events_queued;     // waiting for hl_poll_event
	int32_t reserved;
	uint64_t events_dropped;   // oldest events dropped because 1024 were waiting
	char gateway[64];          // "host:port" of the current gateway, NUL-terminated
} hl_status;
*/
import "C"

import (
	"fmt"
	"runtime"
	"time"
	"unsafe"
)

// sdkVersion is the SDK release; HL_ABI_VERSION changes only on an incompatible C API change.
const (
	sdkVersion = "1.0.0"
	abiVersion = 1
	maxCString = 64 << 10 // longest string argument read (a longer one is rejected)
	maxIDs     = 100000   // most member ids per hl_subscribe call
)

// The Go constants must equal the header's macros: each line fails to compile otherwise (a
// negative or positive difference is not a [0] array).
var (
	_ [0]struct{} = [codeOK - C.HL_OK]struct{}{}
	_ [0]struct{} = [codeInvalidHandle - C.HL_ERR_INVALID_HANDLE]struct{}{}
	_ [0]struct{} = [codeInvalidArgument - C.HL_ERR_INVALID_ARGUMENT]struct{}{}
	_ [0]struct{} = [codeLoggedOut - C.HL_ERR_LOGGED_OUT]struct{}{}
	_ [0]struct{} = [codeState - C.HL_ERR_STATE]struct{}{}
	_ [0]struct{} = [codeNeedsTCP - C.HL_ERR_NEEDS_TCP]struct{}{}
	_ [0]struct{} = [codeNetwork - C.HL_ERR_NETWORK]struct{}{}
	_ [0]struct{} = [codeInternal - C.HL_ERR_INTERNAL]struct{}{}
	_ [0]struct{} = [transportUDP - C.HL_TRANSPORT_UDP]struct{}{}
	_ [0]struct{} = [transportTCP - C.HL_TRANSPORT_TCP]struct{}{}
	_ [0]struct{} = [stateIdle - C.HL_STATE_IDLE]struct{}{}
	_ [0]struct{} = [stateConnecting - C.HL_STATE_CONNECTING]struct{}{}
	_ [0]struct{} = [stateOnline - C.HL_STATE_ONLINE]struct{}{}
	_ [0]struct{} = [statePaused - C.HL_STATE_PAUSED]struct{}{}
	_ [0]struct{} = [stateLoggedOut - C.HL_STATE_LOGGED_OUT]struct{}{}
	_ [0]struct{} = [policyKeep - C.HL_BG_KEEP]struct{}{}
	_ [0]struct{} = [policyByeAfter - C.HL_BG_BYE_AFTER]struct{}{}
	_ [0]struct{} = [kindPresence - C.HL_EVENT_PRESENCE]struct{}{}
	_ [0]struct{} = [kindState - C.HL_EVENT_STATE]struct{}{}
	_ [0]struct{} = [abiVersion - C.HL_ABI_VERSION]struct{}{}
)

// guard turns a panic into HL_ERR_INTERNAL: nothing the SDK does may crash the app.
func guard(rc *C.int32_t) {
	if r := recover(); r != nil {
		setThreadError(fmt.Sprintf("heartline: internal error (please report): %v", r))
		*rc = codeInternal
	}
}

func guard64(rc *C.int64_t) {
	if r := recover(); r != nil {
		setThreadError(fmt.Sprintf("heartline: internal error (please report): %v", r))
		*rc = codeInternal
	}
}

// goString reads a NUL-terminated argument of at most maxCString bytes.
func goString(cp *C.hl_cchar, what string) (string, error) {
	p := (*C.char)(unsafe.Pointer(cp))
	if p == nil {
		return "", errorf(codeInvalidArgument, "heartline: %s is NULL", what)
	}
	n := C.strnlen(p, maxCString+1)
	if n > maxCString {
		return "", errorf(codeInvalidArgument, "heartline: %s is longer than %d bytes", what, maxCString)
	}
	return C.GoStringN(p, C.int(n)), nil
}

// withHandle looks h up and runs f, returning f's code.
func withHandle(h C.int64_t, f func(*session) error) C.int32_t {
	s, err := lookupHandle(int64(h))
	if err != nil {
		return C.int32_t(fail(err))
	}
	return C.int32_t(fail(f(s)))
}

// hl_version writes "heartline-sdk <version> (HL1; <go version>)" into buf (NUL-terminated,
// cut to fit; buf may be NULL) and returns HL_ABI_VERSION.
//
//export hl_version
func hl_version(buf *C.char, buflen C.int32_t) (rc C.int32_t) {
	defer guard(&rc)
	copyCString(unsafe.Pointer(buf), int(buflen), fmt.Sprintf("heartline-sdk %s (HL1; %s)", sdkVersion, runtime.Version()))
	return abiVersion
}

// hl_last_error copies the message of this thread's last failed call into buf
// (NUL-terminated, cut to fit; buf may be NULL) and returns its full length.
//
//export hl_last_error
func hl_last_error(buf *C.char, buflen C.int32_t) C.int32_t {
	return C.int32_t(copyThreadError(unsafe.Pointer(buf), int(buflen)))
}

// hl_create makes a handle from the site's POST /api/session answer: token and
// session_key as returned (base64url), gateways as the "gateways" JSON array as returned
// (or "host:port,host:port"), transport HL_TRANSPORT_UDP or HL_TRANSPORT_TCP. It does not
// touch the network (hl_start does). The handle starts in the foreground with the
// HL_BG_BYE_AFTER policy. Returns the handle (> 0) or a negative HL_ERR_* code.
//
//export hl_create
func hl_create(token, sessionKey, gateways *C.hl_cchar, transport C.int32_t) (rc C.int64_t) {
	defer guard64(&rc)
	h, err := create(token, sessionKey, gateways, int(transport))
	if err != nil {
		return C.int64_t(fail(err))
	}
	return C.int64_t(h)
}

func create(tokenP, keyP, gatewaysP *C.hl_cchar, transport int) (int64, error) {
	if transport != transportUDP && transport != transportTCP {
		return 0, errorf(codeInvalidArgument, "heartline: transport %d: use HL_TRANSPORT_UDP (0) or HL_TRANSPORT_TCP (1)", transport)
	}
	tok, err := goString(tokenP, "token")
	if err != nil {
		return 0, err
	}
	key, err := goString(keyP, "session_key")
	if err != nil {
		return 0, err
	}
	gws, err := goString(gatewaysP, "gateways")
	if err != nil {
		return 0, err
	}
	cred, err := parseCredentials(tok, key)
	if err != nil {
		return 0, err
	}
	addrs, err := parseGateways(gws, transport)
	if err != nil {
		return 0, err
	}
	s, err := newSession(cred, addrs, transport, tuning{})
	if err != nil {
		return 0, err
	}
	return addHandle(s)
}

// hl_start says HELLO to the member's gateway (in the background: it returns at once; an
// HL_EVENT_STATE with HL_STATE_ONLINE follows) and heartbeats from then on, moving between
// gateways and re-HELLOing by itself. HL_ERR_STATE if already started.
//
//export hl_start
func hl_start(h C.int64_t) (rc C.int32_t) {
	defer guard(&rc)
	return withHandle(h, (*session).start)
}

// hl_stop ends the heartbeats and closes the connection without BYE (the member goes
// offline by absence in ~37 s); hl_start starts again. For a logout use hl_logout.
//
//export hl_stop
func hl_stop(h C.int64_t) (rc C.int32_t) {
	defer guard(&rc)
	return withHandle(h, (*session).stop)
}

// hl_set_active reports the app in the foreground (1) or the background (0) to the gateway
// at once, and applies the background policy (hl_set_background_policy).
//
//export hl_set_active
func hl_set_active(h C.int64_t, active C.int32_t) (rc C.int32_t) {
	defer guard(&rc)
	return withHandle(h, func(s *session) error { return s.setActive(active != 0) })
}

// hl_set_background_policy: HL_BG_BYE_AFTER (default; linger_ms default 30000, 0 = at
// once) or HL_BG_KEEP (linger_ms ignored). Applies from the next switch to the background.
//
//export hl_set_background_policy
func hl_set_background_policy(h C.int64_t, policy C.int32_t, lingerMS C.int64_t) (rc C.int32_t) {
	defer guard(&rc)
	return withHandle(h, func(s *session) error {
		if lingerMS < 0 || lingerMS > C.int64_t(maxLinger/time.Millisecond) {
			return errorf(codeInvalidArgument, "heartline: linger_ms %d: use 0..%d", int64(lingerMS), maxLinger.Milliseconds())
		}
		return s.setBackgroundPolicy(int32(policy), time.Duration(lingerMS)*time.Millisecond)
	})
}

// hl_logout sends BYE (the member is offline at once) and retires the handle: later calls
// return HL_ERR_LOGGED_OUT except hl_get_status and hl_destroy. A second hl_logout returns
// HL_ERR_LOGGED_OUT. HL_ERR_NETWORK if the BYE could not be sent (the handle is logged out
// anyway; the session ends by absence).
//
//export hl_logout
func hl_logout(h C.int64_t) (rc C.int32_t) {
	defer guard(&rc)
	return withHandle(h, (*session).logout)
}

// hl_grant passes the site's presence grant (the "grant" field of POST /api/grant, as
// returned) to the gateway; it is kept and sent again after every reconnect. Fetch a new one
// before it expires. HL_TRANSPORT_TCP only. May be called before hl_start.
//
//export hl_grant
func hl_grant(h C.int64_t, grant *C.hl_cchar) (rc C.int32_t) {
	defer guard(&rc)
	return withHandle(h, func(s *session) error {
		text, err := goString(grant, "grant")
		if err != nil {
			return err
		}
		sealed, err := parseGrant(text)
		if err != nil {
			return err
		}
		return s.grant(sealed)
	})
}

// hl_subscribe asks for the presence of n members (ids; the gateway's limit is 1000 per
// connection): their current state, then every change, arrive as HL_EVENT_PRESENCE. Kept
// and sent again after every reconnect. HL_TRANSPORT_TCP only. May be called before hl_start.
//
//export hl_subscribe
func hl_subscribe(h C.int64_t, ids *C.hl_cid, n C.int32_t) (rc C.int32_t) {
	defer guard(&rc)
	return subscribeC(h, ids, n, false)
}

// hl_unsubscribe stops the events of n members.
//
//export hl_unsubscribe
func hl_unsubscribe(h C.int64_t, ids *C.hl_cid, n C.int32_t) (rc C.int32_t) {
	defer guard(&rc)
	return subscribeC(h, ids, n, true)
}

func subscribeC(h C.int64_t, ids *C.hl_cid, n C.int32_t, unsub bool) C.int32_t {
	return withHandle(h, func(s *session) error {
		if ids == nil || n <= 0 || n > maxIDs {
			return errorf(codeInvalidArgument, "heartline: pass 1..%d member ids (got %d, ids %v)", maxIDs, int32(n), ids != nil)
		}
		list := append([]uint64(nil), unsafe.Slice((*uint64)(unsafe.Pointer(ids)), int(n))...)
		return s.changeSubs(list, unsub)
	})
}

// hl_set_event_callback delivers this handle's events to fn on the SDK's event thread
// (ctx is passed back untouched). fn NULL: events wait for hl_poll_event again. Events
// queued before are delivered to fn at once.
//
//export hl_set_event_callback
func hl_set_event_callback(h C.int64_t, fn C.hl_event_fn, ctx unsafe.Pointer) (rc C.int32_t) {
	defer guard(&rc)
	return withHandle(h, func(s *session) error {
		setCallback(s, unsafe.Pointer(fn), ctx)
		return nil
	})
}

// hl_poll_event takes the oldest queued event into *out: returns 1 if it did, 0 if none is
// waiting, or a negative HL_ERR_* code. (With a callback set, events go there instead.)
//
//export hl_poll_event
func hl_poll_event(h C.int64_t, out *C.hl_event) (rc C.int32_t) {
	defer guard(&rc)
	s, err := lookupHandle(int64(h))
	if err != nil {
		return C.int32_t(fail(err))
	}
	if out == nil {
		return C.int32_t(fail(errorf(codeInvalidArgument, "heartline: hl_poll_event: out is NULL")))
	}
	e, ok := s.events.pop()
	if !ok {
		return 0
	}
	fillCEvent(unsafe.Pointer(out), e)
	return 1
}

// hl_get_status fills *out with the handle's state (works after hl_logout too).
//
//export hl_get_status
func hl_get_status(h C.int64_t, out *C.hl_status) (rc C.int32_t) {
	defer guard(&rc)
	return withHandle(h, func(s *session) error {
		if out == nil {
			return errorf(codeInvalidArgument, "heartline: hl_get_status: out is NULL")
		}
		fillCStatus(out, s.status())
		return nil
	})
}

// hl_destroy stops the handle without BYE (hl_logout first for a logout) and frees it; the
// id is never valid again (a second hl_destroy returns HL_ERR_INVALID_HANDLE). It may be
// called from the handle's own callback. The handle's events stop with it (a callback the
// event thread had already begun may still complete: keep ctx valid until then).
//
//export hl_destroy
func hl_destroy(h C.int64_t) (rc C.int32_t) {
	defer guard(&rc)
	s, err := removeHandle(int64(h))
	if err != nil {
		return C.int32_t(fail(err))
	}
	forgetCallback(s.id)
	s.destroy()
	return codeOK
}

func newCEvent() unsafe.Pointer { return C.calloc(1, C.sizeof_hl_event) }

func fillCEvent(p unsafe.Pointer, e event) {
	out := (*C.hl_event)(p)
	*out = C.hl_event{kind: C.int32_t(e.kind), state: C.int32_t(e.state), user_id: C.uint64_t(e.userID),
		devices: C.uint32_t(e.devices), last_seen_ms: C.uint64_t(e.lastSeenMS), version: C.uint64_t(e.version)}
}

func fillCStatus(out *C.hl_status, st statusInfo) {
	active := C.int32_t(0)
	if st.active {
		active = 1
	}
	*out = C.hl_status{state: C.int32_t(st.state), active: active, transport: C.int32_t(st.transport),
		background_policy: C.int32_t(st.policy), linger_ms: C.int64_t(st.lingerMS), user_id: C.uint64_t(st.user),
		slot: C.uint32_t(st.slot), epoch: C.uint32_t(st.epoch), interval_ms: C.int64_t(st.intervalMS),
		events_queued: C.int32_t(st.queued), events_dropped: C.uint64_t(st.dropped)}
	copyCString(unsafe.Pointer(&out.gateway[0]), len(out.gateway), st.gateway)
}

// copyCString writes s into the C buffer dst of capacity bytes, NUL-terminated and cut to fit.
func copyCString(dst unsafe.Pointer, capacity int, s string) {
	if dst == nil || capacity <= 0 {
		return
	}
	b := unsafe.Slice((*byte)(dst), capacity)
	n := copy(b[:capacity-1], s)
	b[n] = 0
}
