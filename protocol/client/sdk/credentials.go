package main

import (
	"encoding/base64"
	"encoding/json"
	"net"
	"strings"

	"heartline/protocol/client"
	"heartline/protocol/hl1"
	"heartline/protocol/token"
)

// Transports of hl_create (HL_TRANSPORT_* in api.go).
const (
	transportUDP = 0 // heartbeats over UDP: the cheapest on the air; no subscriptions
	transportTCP = 1 // heartbeats, grants and subscriptions over one TCP connection
)

// Input limits: what the site returns is far smaller; anything larger is a bug in the app.
const (
	maxGatewaysText = 64 << 10
	maxGateways     = 64
)

// parseCredentials decodes the token and session key exactly as the site's POST
// /api/session returns them (base64url text).
func parseCredentials(tokenText, sessionKey string) (client.Credentials, error) {
	var c client.Credentials
	tok, err := token.ParseText(strings.TrimSpace(tokenText))
	if err != nil {
		return c, errorf(codeInvalidArgument, "heartline: token: %v: pass the \"token\" field of POST /api/session unchanged", err)
	}
	key, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(strings.TrimSpace(sessionKey), "="))
	if err != nil || len(key) != token.SessionKeySize {
		return c, errorf(codeInvalidArgument, "heartline: session_key is not %d bytes of base64url: pass the \"session_key\" field of POST /api/session unchanged", token.SessionKeySize)
	}
	c.Token = tok.Bytes()
	copy(c.Key[:], key)
	return c, nil
}

// siteGateway is one entry of the site's "gateways" array.
type siteGateway struct {
	ID  string `json:"id"`
	UDP string `json:"udp"`
	TCP string `json:"tcp"`
}

// parseGateways accepts the site's "gateways" JSON array as returned (the address for the
// transport is taken from each entry) or a comma-separated "host:port" list.
func parseGateways(text string, transport int) ([]string, error) {
	text = strings.TrimSpace(text)
	if text == "" || len(text) > maxGatewaysText {
		return nil, errorf(codeInvalidArgument, "heartline: gateways: pass the \"gateways\" array of POST /api/session (or \"host:port,host:port\"), 1..%d bytes", maxGatewaysText)
	}
	var addrs []string
	if strings.HasPrefix(text, "[") {
		var list []siteGateway
		if err := json.Unmarshal([]byte(text), &list); err != nil {
			return nil, errorf(codeInvalidArgument, "heartline: gateways JSON: %v: pass the \"gateways\" array of POST /api/session unchanged", err)
		}
		for _, g := range list {
			a := g.UDP
			if transport == transportTCP {
				a = g.TCP
			}
			if a != "" {
				addrs = append(addrs, a)
			}
		}
	} else {
		for _, a := range strings.Split(text, ",") {
			addrs = append(addrs, strings.TrimSpace(a))
		}
	}
	if len(addrs) == 0 || len(addrs) > maxGateways {
		return nil, errorf(codeInvalidArgument, "heartline: gateways: %d addresses for this transport, want 1..%d (log in again for a fresh list)", len(addrs), maxGateways)
	}
	for _, a := range addrs {
		if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
			return nil, errorf(codeInvalidArgument, "heartline: gateway address %q is not host:port", a)
		}
	}
	return addrs, nil
}

// parseGrant decodes a grant as POST /api/grant returns it ("grant", base64url).
func parseGrant(text string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(strings.TrimSpace(text), "="))
	if err != nil || len(b) == 0 || len(b) >= hl1.MaxFrame {
		return nil, errorf(codeInvalidArgument, "heartline: grant is not 1..%d bytes of base64url: pass the \"grant\" field of POST /api/grant unchanged", hl1.MaxFrame-1)
	}
	return b, nil
}
