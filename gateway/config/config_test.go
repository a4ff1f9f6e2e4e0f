package config

import (
	"io"
	"testing"
	"time"
)

func TestEnvAndFlags(t *testing.T) {
	env := map[string]string{"HEARTLINE_SECRET_FILE": "/k", "HEARTLINE_INTERVAL": "5s", "HEARTLINE_LOOPS": "3"}
	c, err := Parse([]string{"-loops", "2"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.SecretFile != "/k" || c.Interval != 5*time.Second || c.Loops != 2 {
		t.Fatalf("got %+v", c)
	}
	if _, err := Parse(nil, func(string) string { return "" }, io.Discard); err == nil {
		t.Fatal("missing secret file accepted")
	}
	env["HEARTLINE_MISSES"] = "many"
	if _, err := Parse(nil, func(k string) string { return env[k] }, io.Discard); err == nil {
		t.Fatal("bad env value accepted")
	}
}
