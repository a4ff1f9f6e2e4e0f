package table

import (
	"testing"
	"unsafe"
)

func TestSessionSize(t *testing.T) {
	if got := unsafe.Sizeof(Session{}); got != sizeofSession {
		t.Fatalf("Session is %d bytes, want %d", got, sizeofSession)
	}
}
