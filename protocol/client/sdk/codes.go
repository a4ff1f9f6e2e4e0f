package main

import (
	"errors"
	"fmt"
)

// Result codes of the C API (the HL_* macros in api.go's preamble carry the same values).
const (
	codeOK              = 0
	codeInvalidHandle   = -1
	codeInvalidArgument = -2
	codeLoggedOut       = -3
	codeState           = -4
	codeNeedsTCP        = -5
	codeNetwork         = -6
	codeInternal        = -7
)

// apiError is an error with the code the C API returns for it.
type apiError struct {
	code int32
	msg  string
}

func (e *apiError) Error() string { return e.msg }

func errorf(code int32, format string, args ...any) error {
	return &apiError{code: code, msg: fmt.Sprintf(format, args...)}
}

var (
	errInvalidHandle = errorf(codeInvalidHandle, "heartline: invalid handle (never created, or already destroyed): use the id hl_create returned, once per hl_destroy")
	errLoggedOut     = errorf(codeLoggedOut, "heartline: this handle logged out: create a new one from fresh credentials (hl_create)")
	errNeedsTCP      = errorf(codeNeedsTCP, "heartline: grants and subscriptions need a handle created with HL_TRANSPORT_TCP")
)

// codeOf maps err to its C result code; a plain error (from protocol/client) is a network
// error.
func codeOf(err error) int32 {
	if err == nil {
		return codeOK
	}
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.code
	}
	return codeNetwork
}
