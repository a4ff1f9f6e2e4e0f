package wiring

import (
	"flag"
	"strings"
	"testing"
)

func TestApplyEnvSetEvenEmptyAndTheCommandLineWins(t *testing.T) {
	env := map[string]string{"HEARTLINE_TCP_ADDR": "", "HEARTLINE_LOOPS": "3", "HEARTLINE_UDP_ADDR": ":1"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	tcp := fs.String("tcp-addr", ":7947", "")
	udp := fs.String("udp-addr", ":7946", "")
	loops := fs.Int("loops", 1, "")
	other := fs.String("other", "default", "")
	if err := ApplyEnv(fs, lookup); err != nil {
		t.Fatal(err)
	}
	if err := fs.Parse([]string{"-udp-addr", ":2"}); err != nil {
		t.Fatal(err)
	}
	if *tcp != "" || *loops != 3 || *udp != ":2" || *other != "default" {
		t.Fatalf("tcp %q loops %d udp %q other %q; want \"\" (set empty), 3 (env), :2 (flag wins), default (unset)", *tcp, *loops, *udp, *other)
	}
	env["HEARTLINE_LOOPS"] = "many"
	if err := ApplyEnv(fs, lookup); err == nil || !strings.Contains(err.Error(), "HEARTLINE_LOOPS") {
		t.Fatalf("bad value: %v; want an error naming HEARTLINE_LOOPS", err)
	}
}

func TestLoggerRefusesABadLevel(t *testing.T) {
	if _, err := Logger("loud"); err == nil || !strings.Contains(err.Error(), "-log-level") {
		t.Fatalf("Logger(loud): %v", err)
	}
	if err := CheckLogLevel("warn"); err != nil {
		t.Fatal(err)
	}
	l, err := Logger("debug")
	if err != nil || !l.Core().Enabled(-1) {
		t.Fatalf("Logger(debug): debug not enabled (%v)", err)
	}
}
