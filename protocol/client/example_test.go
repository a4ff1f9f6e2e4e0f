package client_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"heartline/protocol/client"
	"heartline/protocol/hl1"
	"heartline/protocol/token"
)

// loginResponse is the part of the site's POST /api/session answer an app needs
// (site/README.md, "API for native apps").
type loginResponse struct {
	UserID     uint64    `json:"user_id"`
	DeviceID   uint32    `json:"device_id"`
	Token      string    `json:"token"`       // base64url, 58 characters
	SessionKey string    `json:"session_key"` // base64url of the 16-byte heartbeat key
	ExpiresAt  time.Time `json:"expires_at"`
	IntervalS  int       `json:"interval_s"`
	Gateways   []struct {
		ID  string `json:"id"`
		UDP string `json:"udp"`
		TCP string `json:"tcp"`
	} `json:"gateways"`
}

// credentials turns the login answer into what the client needs. Store the token and the
// session key in the platform's secure storage (Keychain, Android Keystore): the key
// authenticates every heartbeat of this session.
func credentials(r loginResponse) (client.Credentials, error) {
	var c client.Credentials
	tok, err := token.ParseText(r.Token)
	if err != nil {
		return c, fmt.Errorf("token from the site: %w", err)
	}
	key, err := base64.RawURLEncoding.DecodeString(r.SessionKey)
	if err != nil || len(key) != token.SessionKeySize {
		return c, fmt.Errorf("session_key from the site is not 16 bytes of base64url")
	}
	c.Token = tok.Bytes()
	copy(c.Key[:], key)
	return c, nil
}

// Login: decode POST /api/session's answer into client.Credentials. (The answer here is
// made with a test key ring; a real app gets it from the site over HTTPS.)
func Example_login() {
	ring := token.NewKeyRing()
	secret, _ := hex.DecodeString("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	_ = ring.Add(7, secret)
	_ = ring.SetCurrent(7)
	tok, key, _ := ring.Issue(token.Claims{UserID: 100001, DeviceID: 1, Expiry: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)})
	body, _ := json.Marshal(map[string]any{
		"user_id": 100001, "device_id": 1, "token": tok.String(),
		"session_key": base64.RawURLEncoding.EncodeToString(key[:]),
		"expires_at":  "2030-01-01T00:00:00Z", "interval_s": 10,
		"gateways": []map[string]string{{"id": "gw-1", "udp": "10.0.0.5:7946", "tcp": "10.0.0.5:7947"}},
	})

	var resp loginResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		panic(err)
	}
	cred, err := credentials(resp)
	if err != nil {
		panic(err)
	}
	parsed, _ := token.Parse(cred.Token[:])
	fmt.Println("user", parsed.UserID, "device", parsed.DeviceID, "expires", parsed.ExpiresAt().UTC().Format(time.RFC3339))
	fmt.Println("key matches:", cred.Key == key, "gateways:", len(resp.Gateways))
	// Output:
	// user 100001 device 1 expires 2030-01-01T00:00:00Z
	// key matches: true gateways: 1
}

// Session lifecycle of a native app: HELLO to the user's gateway, heartbeats until logout,
// status changes at once, BYE on logout. (Compiled by go test, not run: it needs a gateway.)
func Example_session() {
	var resp loginResponse // from POST /api/session
	cred, err := credentials(resp)
	if err != nil {
		return // log in again
	}
	udp := make([]string, 0, len(resp.Gateways))
	for _, g := range resp.Gateways {
		udp = append(udp, g.UDP)
	}
	c, err := client.New(cred, client.Options{
		Gateways: udp,  // the client orders them by rendezvous hash of the user id
		Active:   true, // app in the foreground
	})
	if err != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := c.Connect(ctx); err != nil { // HELLO -> WELCOME, falling back along the ring
		return
	}
	go c.Run(ctx) //nolint:errcheck // heartbeats on the WELCOME's interval, jittered; re-HELLO on REHELLO

	_ = c.SetActive(false) // app went to the background: one HEARTBEAT now with status away
	_ = c.SetActive(true)  // back in the foreground

	_ = c.Bye() // logout: the gateway reports the member offline at once
	cancel()
}

// Subscriptions (TCP): the current state of each user, then every change, as EVENT
// entries. Keep the highest version per user and ignore entries below it.
func Example_subscribe() {
	var cred client.Credentials   // from the login, as above
	latest := map[uint64]uint64{} // user -> highest version seen (only touched from Run's goroutine)
	c, err := client.New(cred, client.Options{
		Gateways: []string{"10.0.0.5:7947"}, // the gateways' "tcp" addresses
		Network:  "tcp",
		OnEvent: func(e hl1.Event) {
			if e.Version < latest[e.UserID] {
				return // late: never regress the display (equal: a second change in one Consul txn)
			}
			latest[e.UserID] = e.Version
			fmt.Println(e.UserID, e.State == hl1.StateOffline, e.LastSeenMS)
		},
	})
	if err != nil {
		return
	}
	ctx := context.Background()
	if err := c.Connect(ctx); err != nil {
		return
	}
	go c.Run(ctx)                             //nolint:errcheck // delivers EVENTs to OnEvent, reconnects and re-subscribes
	_ = c.Subscribe([]uint64{100002, 100003}) // e.g. the member's matches (limit per connection: 1000 by default)
	_ = c.Unsubscribe([]uint64{100003})
}

// Gateway choice: rendezvous hashing of the user id over the gateway list. Every app with
// the same list picks the same gateway; when one leaves, only its users move. Other
// implementations must reproduce this order exactly (see protocol/APPS.md for the algorithm).
func ExampleGatewayOrder() {
	gateways := []string{"10.0.0.5:7946", "10.0.0.6:7946", "10.0.0.7:7946"}
	for _, user := range []uint64{100001, 100002, 12345678} {
		fmt.Println(user, client.PickGateway(user, gateways), client.GatewayOrder(user, gateways))
	}
	// Output:
	// 100001 10.0.0.5:7946 [10.0.0.5:7946 10.0.0.7:7946 10.0.0.6:7946]
	// 100002 10.0.0.6:7946 [10.0.0.6:7946 10.0.0.7:7946 10.0.0.5:7946]
	// 12345678 10.0.0.6:7946 [10.0.0.6:7946 10.0.0.7:7946 10.0.0.5:7946]
}

// The heartbeat schedule: an absolute grid with a random phase in [0, interval/2) and a
// per-beat jitter of at most ±jitter, so beats never drift and a million apps started
// together spread over the interval.
func ExampleSchedule() {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	interval, jitter := 10*time.Second, time.Second
	s := client.NewSchedule(start, interval, jitter, 42) // seed: e.g. user id ^ random
	now := start
	for k := int64(0); k < 3; k++ {
		next := s.Next(now) // time of the next beat after now
		off := next.Sub(s.Grid(k))
		fmt.Printf("beat %d: within ±1s of start+phase+%ds: %v\n", k, 10*k, off >= -jitter && off <= jitter)
		now = next
	}
	// A device that slept through six beats sends one beat (the next grid point), not a burst:
	woke := now.Add(time.Minute)
	next := s.Next(woke)
	fmt.Println("after sleeping:", next.Sub(woke) <= interval+jitter, s.Next(next).Sub(next) >= interval-2*jitter)
	// Output:
	// beat 0: within ±1s of start+phase+0s: true
	// beat 1: within ±1s of start+phase+10s: true
	// beat 2: within ±1s of start+phase+20s: true
	// after sleeping: true true
}

// A HEARTBEAT at the byte level, for implementers in other languages: the PROTOCOL.md test
// vector (session key A, slot 42, epoch 3, seq 1, ts 1000 ticks, active).
func Example_heartbeatFrame() {
	var key token.SessionKey
	k, _ := hex.DecodeString("ddfb92c6fe8d5a552319d296f69e0018")
	copy(key[:], k)
	mac := hl1.NewMACKey(key)
	frame := hl1.AppendHeartbeat(nil, hl1.Beat{Slot: 42, Epoch: 3, Seq: 1, TS: 1000, Active: true}.Seal(mac))
	fmt.Println(hex.EncodeToString(frame))
	tcp, _ := hl1.AppendTCP(nil, frame)
	fmt.Println(hex.EncodeToString(tcp))
	// Output:
	// 130000002a03e8800199fbbf34440582c3
	// 0011130000002a03e8800199fbbf34440582c3
}
