//go:build cgo

package main

/*
#include <stddef.h>
#include <string.h>

// The message of the last failed call on this thread (errno style): hl_last_error reads it.
static __thread char hl_sdk_err[256];

static void hl_sdk_set_err(const char *p, size_t n) {
	if (n > sizeof(hl_sdk_err) - 1) n = sizeof(hl_sdk_err) - 1;
	if (n > 0) memcpy(hl_sdk_err, p, n);
	hl_sdk_err[n] = 0;
}

static size_t hl_sdk_copy_err(char *dst, size_t cap) {
	size_t n = strlen(hl_sdk_err);
	if (dst != NULL && cap > 0) {
		size_t m = n < cap - 1 ? n : cap - 1;
		memcpy(dst, hl_sdk_err, m);
		dst[m] = 0;
	}
	return n;
}
*/
import "C"

import "unsafe"

// fail records err's message for hl_last_error on the calling thread and returns its code.
func fail(err error) int32 {
	if err != nil {
		setThreadError(err.Error())
	}
	return codeOf(err)
}

// setThreadError records msg as the calling thread's last error. Exported functions run on
// the thread of the C caller, so this is that thread's.
func setThreadError(msg string) {
	if msg == "" {
		C.hl_sdk_set_err(nil, 0)
		return
	}
	C.hl_sdk_set_err((*C.char)(unsafe.Pointer(unsafe.StringData(msg))), C.size_t(len(msg)))
}

// copyThreadError copies the calling thread's last error into dst (NUL-terminated, cut to
// fit) and returns its full length.
func copyThreadError(dst unsafe.Pointer, capacity int) int {
	if capacity < 0 {
		capacity = 0
	}
	return int(C.hl_sdk_copy_err((*C.char)(dst), C.size_t(capacity)))
}
