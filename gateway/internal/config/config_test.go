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

func TestSubscriptionsNeedConsul(t *testing.T) {
	env := map[string]string{"HEARTLINE_SECRET_FILE": "/k"}
	get := func(k string) string { return env[k] }
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
