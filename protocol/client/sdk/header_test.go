//go:build cgo

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestHeaderIsCurrent regenerates the C header (as `make sdk` does) and compares it with the
// committed heartline.h, and logs what the SDK adds to an app (library sizes, this machine).
func TestHeaderIsCurrent(t *testing.T) {
	dir := buildSDK(t)
	got, err := os.ReadFile(filepath.Join(dir, "libheartline.h"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("heartline.h")
	if err != nil {
		t.Fatalf("the committed header: %v (run make sdk-header)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("protocol/client/sdk/heartline.h is not what cgo generates from api.go: run `make sdk-header` and commit it")
	}
	// The C test program is a small app with the archive linked in: its size is what the
	// SDK adds to an app after the linker dropped what is unused (with symbols).
	for _, f := range []string{sdkBuild.archive, sdkBuild.shared, sdkBuild.ct} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %.1f MiB", filepath.Base(f), float64(fi.Size())/(1<<20))
	}
}

// TestCProgramMisuse runs the C program's bad-use checks (no network): made-up handles, NULL
// arguments and malformed credentials return codes with messages and never crash.
func TestCProgramMisuse(t *testing.T) {
	buildSDK(t)
	out, err := exec.Command(sdkBuild.ct, "misuse").CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("DONE")) {
		t.Fatalf("sdk_test misuse: %v\n%s", err, out)
	}
	t.Logf("%s", bytes.TrimSpace(out))
}

// TestJNIGlueCompiles syntax-checks android/heartline_jni.c against the committed header and
// a JDK's jni.h (the Android NDK is not available here; its jni.h differs only where the
// file says so).
func TestJNIGlueCompiles(t *testing.T) {
	headers, _ := filepath.Glob("/usr/lib/jvm/*/include/jni.h")
	if len(headers) == 0 {
		t.Skip("no JDK jni.h under /usr/lib/jvm (Debian: apt-get install openjdk-17-jdk-headless)")
	}
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("no gcc")
	}
	inc := filepath.Dir(headers[0])
	out, err := exec.Command("gcc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-fsyntax-only",
		"-I", inc, "-I", filepath.Join(inc, "linux"), "-I", ".", "android/heartline_jni.c").CombinedOutput()
	if err != nil {
		t.Fatalf("heartline_jni.c against %s: %v\n%s", headers[0], err, out)
	}
}
