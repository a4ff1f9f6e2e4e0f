package proctest

import (
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"testing"
)

// SkipShort skips a process-level test under `go test -short`.
func SkipShort(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("process-level test (builds and runs binaries): skipped with -short; make test runs it")
	}
}

// Build compiles the named main packages (e.g. "heartline/gateway") into a temporary
// directory and returns the binaries' paths in the same order. A process-level test calls
// it first: under -short the test is skipped here.
func Build(t testing.TB, pkgs ...string) []string {
	t.Helper()
	SkipShort(t)
	dir := t.TempDir()
	args := append([]string{"build", "-o", dir + string(os.PathSeparator)}, pkgs...)
	cmd := exec.Command("go", args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %v: %v\n%s", pkgs, err, out)
	}
	bins := make([]string, len(pkgs))
	for i, p := range pkgs {
		bins[i] = filepath.Join(dir, path.Base(p))
	}
	return bins
}
