package main

import (
	"net"
	"strings"
	"testing"
)

func TestParseGateways(t *testing.T) {
	site := `[{"id":"gw-1","udp":"10.0.0.5:7946","tcp":"10.0.0.5:7947"},{"id":"gw-2","udp":"10.0.0.6:7946","tcp":"10.0.0.6:7947"}]`
	for _, c := range []struct {
		text      string
		transport int
		want      string
		code      int32
	}{
		{site, transportUDP, "10.0.0.5:7946,10.0.0.6:7946", codeOK},
		{site, transportTCP, "10.0.0.5:7947,10.0.0.6:7947", codeOK},
		{" 10.0.0.5:7946, [::1]:7946 ", transportUDP, "10.0.0.5:7946,[::1]:7946", codeOK},
		{"", transportUDP, "", codeInvalidArgument},
		{"[]", transportUDP, "", codeInvalidArgument},
		{`[{"id":"gw-1","tcp":"10.0.0.5:7947"}]`, transportUDP, "", codeInvalidArgument},
		{"10.0.0.5", transportUDP, "", codeInvalidArgument},
		{`[{"udp":`, transportUDP, "", codeInvalidArgument},
	} {
		got, err := parseGateways(c.text, c.transport)
		if codeOf(err) != c.code || strings.Join(got, ",") != c.want {
			t.Errorf("parseGateways(%q, %d) = %v, %v; want %q code %d", c.text, c.transport, got, err, c.want, c.code)
		}
	}
}

func TestParseCredentials(t *testing.T) {
	tok, key := siteCredentials(t, testKeyRing(t), 100001)
	if _, err := parseCredentials(tok, key); err != nil {
		t.Fatal(err)
	}
	if _, err := parseCredentials(tok, key+"=="); err != nil {
		t.Fatalf("padded key: %v", err)
	}
	for _, bad := range [][2]string{{"", key}, {tok, ""}, {tok, key[:10]}, {tok[1:], key}, {tok, "!!!!!!!!!!!!!!!!!!!!!!"}} {
		if _, err := parseCredentials(bad[0], bad[1]); codeOf(err) != codeInvalidArgument {
			t.Errorf("parseCredentials(%q, %q): %v, want HL_ERR_INVALID_ARGUMENT", bad[0], bad[1], err)
		}
	}
}

func FuzzParseGateways(f *testing.F) {
	f.Add(`[{"id":"gw-1","udp":"10.0.0.5:7946","tcp":"10.0.0.5:7947"}]`, 0)
	f.Add("10.0.0.5:7946,10.0.0.6:7946", 1)
	f.Add("[", 0)
	f.Add(",,,", 0)
	f.Fuzz(func(t *testing.T, text string, transport int) {
		addrs, err := parseGateways(text, transport&1)
		if err != nil {
			if codeOf(err) != codeInvalidArgument {
				t.Fatalf("error code %d: %v", codeOf(err), err)
			}
			return
		}
		if len(addrs) == 0 || len(addrs) > maxGateways {
			t.Fatalf("%d addresses accepted", len(addrs))
		}
		for _, a := range addrs {
			if _, _, err := net.SplitHostPort(a); err != nil {
				t.Fatalf("accepted %q: %v", a, err)
			}
		}
	})
}

func FuzzParseCredentials(f *testing.F) {
	tok, key := siteCredentials(f, testKeyRing(f), 100001)
	f.Add(tok, key)
	f.Add("", "")
	f.Add(tok, "AAAA")
	f.Fuzz(func(t *testing.T, tok, key string) {
		if _, err := parseCredentials(tok, key); err != nil && codeOf(err) != codeInvalidArgument {
			t.Fatalf("error code %d: %v", codeOf(err), err)
		}
		if _, err := parseGrant(key); err != nil && codeOf(err) != codeInvalidArgument {
			t.Fatalf("grant error code %d: %v", codeOf(err), err)
		}
	})
}
