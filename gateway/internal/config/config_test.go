package config

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestEnvAndFlags(t *testing.T) {
	env := map[string]string{"HEARTLINE_SECRET_FILE": "/k", "HEARTLINE_INTERVAL": "5s", "HEARTLINE_LOOPS": "3"}
	c, err := Parse([]string{"-loops", "2"}, lookupIn(env), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.SecretFile != "/k" || c.Interval != 5*time.Second || c.Loops != 2 {
		t.Fatalf("got %+v", c)
	}
	if _, err := Parse(nil, lookupIn(nil), io.Discard); err == nil {
		t.Fatal("missing secret file accepted")
	}
	env["HEARTLINE_MISSES"] = "many"
	if _, err := Parse(nil, lookupIn(env), io.Discard); err == nil {
		t.Fatal("bad env value accepted")
	}
}

func TestSubscriptionsNeedConsul(t *testing.T) {
	env := map[string]string{"HEARTLINE_SECRET_FILE": "/k"}
	get := lookupIn(env)
	c, err := Parse(nil, get, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subscriptions || c.MaxSubscriptions != 1000 || c.Prefix != "heartline" {
		t.Fatalf("defaults: %+v", c)
	}
	env["CONSUL_HTTP_ADDR"] = "127.0.0.1:8500"
	env["HEARTLINE_MAX_SUBSCRIPTIONS"] = "50"
	if c, err = Parse(nil, get, io.Discard); err != nil || !c.Subscriptions || c.MaxSubscriptions != 50 {
		t.Fatalf("CONSUL_HTTP_ADDR set: %+v %v", c, err)
	}
	delete(env, "CONSUL_HTTP_ADDR")
	if c, err = Parse([]string{"-consul-addr", "10.0.0.1:8500"}, get, io.Discard); err != nil || !c.Subscriptions {
		t.Fatalf("-consul-addr set: %+v %v", c, err)
	}
	if _, err = Parse([]string{"-max-subscriptions", "0"}, get, io.Discard); err == nil {
		t.Fatal("-max-subscriptions 0 accepted")
	}
}

func lookupIn(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

// A -log-level the logger cannot use is a configuration error, from the flag or from the
// environment, as in the agent and the site.
func TestBadLogLevelIsAnError(t *testing.T) {
	env := map[string]string{"HEARTLINE_SECRET_FILE": "/k"}
	if _, err := Parse([]string{"-log-level", "loud"}, lookupIn(env), io.Discard); err == nil {
		t.Fatal("-log-level loud accepted")
	}
	env["HEARTLINE_LOG_LEVEL"] = "loud"
	if _, err := Parse(nil, lookupIn(env), io.Discard); err == nil {
		t.Fatal("HEARTLINE_LOG_LEVEL=loud accepted")
	}
	if _, err := Parse([]string{"-log-level", "warn"}, lookupIn(env), io.Discard); err != nil {
		t.Fatalf("-log-level warn over a bad environment value: %v", err)
	}
}

// The admin port listens on loopback unless told otherwise, the TCP idle timeout follows
// the session timeout unless set, and the TCP caps are flags.
func TestAdminOnLoopbackAndTCPDefaults(t *testing.T) {
	env := map[string]string{"HEARTLINE_SECRET_FILE": "/k"}
	c, err := Parse(nil, lookupIn(env), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.AdminAddr != "127.0.0.1:9464" {
		t.Fatalf("-admin-addr default %q, want loopback", c.AdminAddr)
	}
	if c.TCPIdle != 0 || c.TCPAuthTimeout != 5*time.Second || c.TCPLoops != 1 || c.TCPMaxConns != 100000 || c.TCPMaxConnsPerAddr != 256 {
		t.Fatalf("TCP defaults: %+v", c)
	}
	c, err = Parse([]string{"-tcp-loops", "4", "-tcp-max-conns-per-addr", "8", "-tcp-idle", "1m"}, lookupIn(env), io.Discard)
	if err != nil || c.TCPLoops != 4 || c.TCPMaxConnsPerAddr != 8 || c.TCPIdle != time.Minute {
		t.Fatalf("TCP flags: %+v %v", c, err)
	}
	for _, bad := range [][]string{{"-tcp-loops", "0"}, {"-tcp-auth-timeout", "0"}, {"-tcp-max-conns-per-addr", "0"}, {"-tcp-idle", "-1s"}} {
		if _, err := Parse(bad, lookupIn(env), io.Discard); err == nil {
			t.Fatalf("%v accepted", bad)
		}
	}
}

func TestParseRelays(t *testing.T) {
	got, err := ParseRelays(" 10.1.0.0/16, 192.0.2.7 ,2001:db8::/48,::ffff:198.51.100.1,")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.1.0.0/16", "192.0.2.7/32", "2001:db8::/48", "198.51.100.1/32"}
	if len(got) != len(want) {
		t.Fatalf("%v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Fatalf("%v, want %v", got, want)
		}
	}
	for _, bad := range []string{"10.1.0.0/33", "relay.example", "10.1.0.0/16,nope"} {
		if _, err := ParseRelays(bad); err == nil || !strings.Contains(err.Error(), "-relays") {
			t.Errorf("%q: %v, want an error naming -relays", bad, err)
		}
	}
}
