package main

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"heartline/scripts/proctest"
)

const root = "../.."

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// binaries builds gateway, agent, site and loadgen once per test run.
func binaries(t *testing.T) string {
	t.Helper()
	proctest.SkipShort(t)
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "opsdoc-bin")
		if binErr == nil {
			binErr = Build(root, binDir, append(Binaries, Loadgen)...)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func TestParseHelp(t *testing.T) {
	out := "Usage of x:\n" +
		"  -addr string\n    \tlisten address (default :$PORT, PORT default 8080) (default \":8080\")\n" +
		"  -register\n    \tregister the service (default true)\n" +
		"  -secret-file <key_id> <hex_secret> [current]\n    \tkey ring file; required\n" +
		"  -n int\n    \tfirst line\n    \tsecond line (default 3)\n"
	got := ParseHelp(out)
	want := []Flag{
		{Name: "addr", Type: "string", Default: ":8080", Usage: "listen address (default :$PORT, PORT default 8080)"},
		{Name: "register", Default: "true", Usage: "register the service"},
		{Name: "secret-file", Type: "<key_id> <hex_secret> [current]", Usage: "key ring file; required"},
		{Name: "n", Type: "int", Default: "3", Usage: "first line second line"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d flags %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("flag %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	table := Table(Binary{Name: "x", Env: true}, got[:1])
	if !strings.Contains(table, "| `-addr` string | `HEARTLINE_ADDR` | `:8080` |") {
		t.Errorf("table row not as expected:\n%s", table)
	}
}

// TestFlagTablesAreCurrent fails when a binary has a flag (or a default, or a usage text)
// that its operations guide does not show: run `go run ./scripts/opsdoc` and commit.
func TestFlagTablesAreCurrent(t *testing.T) {
	dir := binaries(t)
	for _, b := range Binaries {
		flags, err := Help(filepath.Join(dir, b.Name))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(filepath.Join(root, b.Doc))
		if err != nil {
			t.Fatal(err)
		}
		want, err := Splice(string(raw), b.Name, Table(b, flags))
		if err != nil {
			t.Fatalf("%s: %v", b.Doc, err)
		}
		if want != string(raw) {
			t.Errorf("%s: the %s flag table is stale (a flag was added, removed or changed): run `go run ./scripts/opsdoc` from the repository root and commit", b.Doc, b.Name)
		}
		for _, f := range flags {
			if !strings.Contains(string(raw), "`-"+f.Name+"`") {
				t.Errorf("%s does not mention %s flag -%s", b.Doc, b.Name, f.Name)
			}
		}
	}
}

// TestLoadgenFlagsDocumented checks the hand-written loadgen table of the load tester guide.
func TestLoadgenFlagsDocumented(t *testing.T) {
	dir := binaries(t)
	flags, err := Help(filepath.Join(dir, Loadgen.Name))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, Loadgen.Doc))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range flags {
		if !strings.Contains(string(raw), "`-"+f.Name+"`") {
			t.Errorf("%s does not document loadgen flag -%s", Loadgen.Doc, f.Name)
		}
	}
}
