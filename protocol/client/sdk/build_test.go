//go:build cgo

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"heartline/scripts/proctest"
)

// sdkBuild is the SDK built once per test binary (the build takes a while): the c-archive
// and the c-shared library with their generated headers, and the C test program.
var sdkBuild struct {
	once                     sync.Once
	dir, archive, shared, ct string
	err                      error
	out                      []byte
}

// buildSDK builds the libraries as `make sdk` does and compiles testdata/sdk_test.c against
// the archive and the committed heartline.h. Process level: skipped under -short.
func buildSDK(t *testing.T) (dir string) {
	t.Helper()
	proctest.SkipShort(t)
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Fatalf("the SDK tests need gcc (Debian: apt-get install gcc): %v", err)
	}
	b := &sdkBuild
	b.once.Do(func() {
		b.dir, b.err = os.MkdirTemp("", "heartline-sdk-test-")
		if b.err != nil {
			return
		}
		b.archive, b.shared, b.ct = filepath.Join(b.dir, "libheartline.a"), filepath.Join(b.dir, "shared", "libheartline.so"), filepath.Join(b.dir, "sdk_test")
		steps := [][]string{
			{"go", "build", "-trimpath", "-buildmode=c-archive", "-o", b.archive, "."},
			{"go", "build", "-trimpath", "-ldflags=-s", "-buildmode=c-shared", "-o", b.shared, "."},
			{"gcc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-pthread", "-I", ".", "-o", b.ct, "testdata/sdk_test.c", b.archive, "-lpthread"},
		}
		for _, s := range steps {
			cmd := exec.Command(s[0], s[1:]...)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
			if b.out, b.err = cmd.CombinedOutput(); b.err != nil {
				b.out = append([]byte(strings.Join(s, " ")+"\n"), b.out...)
				return
			}
		}
	})
	if b.err != nil {
		t.Fatalf("building the SDK: %v\n%s", b.err, b.out)
	}
	return b.dir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if sdkBuild.dir != "" {
		os.RemoveAll(sdkBuild.dir)
	}
	os.Exit(code)
}
