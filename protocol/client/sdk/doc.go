// Command sdk is Heartline's native app SDK: the reference client (protocol/client) behind a
// small, stable C API, built with `make sdk` as a C archive (iOS: link it into the app) and
// a shared library (Android: load it behind JNI) in .cache/sdk/. Every app then runs the one
// tested HL1 implementation instead of a port of PROTOCOL.md.
//
// The C API is declared in heartline.h, which cgo generates from api.go; the committed copy
// is checked to be current by TestHeaderIsCurrent (regenerate with `make sdk-header`).
//
//   - Handles are positive int64 ids from a table (handles.go), never Go pointers, and are
//     never reused: a destroyed or made-up handle gets HL_ERR_INVALID_HANDLE.
//   - Every call returns an int code (HL_OK or a negative HL_ERR_*); the message of the last
//     failed call on the calling thread is read with hl_last_error (errors.go), like errno.
//     No call panics into the app: a Go panic is recovered and returned as HL_ERR_INTERNAL.
//   - Events (presence EVENTs of subscribed members, and the handle's own state changes) wait
//     in a bounded per-handle queue (events.go) for hl_poll_event, or, once a callback is set,
//     are delivered on the SDK's one event thread (dispatch.go): a thread the SDK creates and
//     owns, the same for every handle, never the app's main thread. The callback must return
//     quickly (post to the UI queue) and must not block.
//   - The app-background policy (session.go, background.go): by default a handle that stays
//     in the background for 30 s sends BYE and goes quiet (no radio wake-ups), and says HELLO
//     again when the app comes back to the foreground.
//
// It owns the C ABI and the per-handle lifecycle only. It must not reimplement HL1 (that is
// protocol/client's) and must not know any gateway or site internals: what it learns from
// the site (token, session key, gateways, grants) the app passes in as the site returned it.
package main
