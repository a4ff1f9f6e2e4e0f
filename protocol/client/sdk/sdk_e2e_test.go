//go:build cgo

package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"heartline/scripts/consultest"
	"heartline/scripts/proctest"
)

// TestCProgramEndToEnd: the C test program (testdata/sdk_test.c, linked with the c-archive)
// against a real Consul, gateway, agent and site. The Go side logs two demo members in at
// the site over HTTP (POST /api/session; POST /api/grant for B to see A) and hands the
// answers to the C program unchanged; the C program goes online as A over UDP, subscribes
// as B over TCP, goes to the background and back under both background policies and logs
// out. At each step the Go side checks the agent's query API (a watcher following Consul).
func TestCProgramEndToEnd(t *testing.T) {
	buildSDK(t)
	consul := consultest.Start(t, nil)
	dir := t.TempDir()
	bins := proctest.Build(t, "heartline/gateway", "heartline/agent", "heartline/site")

	secret := make([]byte, 32)
	for i := range secret {
		secret[i] = byte(5*i + 11)
	}
	keyFile := filepath.Join(dir, "keys")
	if err := os.WriteFile(keyFile, []byte("1 "+hex.EncodeToString(secret)+" current\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	udp, tcp, admin, agentHTTP := proctest.FreeAddr(t, "udp"), proctest.FreeAddr(t, "tcp"), proctest.FreeAddr(t, "tcp"), proctest.FreeAddr(t, "tcp")
	siteAddr, siteAdmin := proctest.FreeAddr(t, "tcp"), proctest.FreeAddr(t, "tcp")
	sock := filepath.Join(dir, "feed.sock")
	consulEnv := []string{"CONSUL_HTTP_ADDR=" + consul.HTTPAddr}
	proctest.Start(t, dir, "gateway", bins[0], consulEnv,
		"-udp-addr", udp, "-tcp-addr", tcp, "-admin-addr", admin, "-secret-file", keyFile, "-feed-socket", sock,
		"-gateway-id", "gw-sdk", "-loops", "1", "-max-sessions", "1000", "-flush-interval", "10ms")
	proctest.Start(t, dir, "agent", bins[1], consulEnv,
		"-gateway-id", "gw-sdk", "-feed-socket", sock, "-gateway-admin", "http://"+admin, "-gateway-address", "127.0.0.1",
		"-gateway-udp-port", proctest.Port(udp), "-gateway-tcp-port", proctest.Port(tcp), "-http-addr", agentHTTP,
		"-buckets", "64", "-flush-window", "20ms", "-check-interval", "500ms")
	proctest.Start(t, dir, "site", bins[2], consulEnv,
		"-addr", siteAddr, "-admin-addr", siteAdmin, "-db", filepath.Join(dir, "site.db"), "-demo-members", "8",
		"-key-file", keyFile, "-consul-addr", consul.HTTPAddr, "-secure-cookies=false", "-log-level", "warn", "-login-ip-burst", "100")
	site := "http://" + siteAddr
	proctest.WaitFor(t, 60*time.Second, "the site to be ready", func() bool { return httpOK("http://" + siteAdmin + "/readyz") })

	const memberA, memberB = 100001, 100002
	var a, b appLogin
	proctest.WaitFor(t, 60*time.Second, "the gateway's Consul health check to pass", func() bool {
		e, _, err := consul.Client().Health().Service("heartline-gateway", "", true, nil)
		return err == nil && len(e) == 1
	})
	var lastLogin time.Time
	proctest.WaitFor(t, 30*time.Second, "POST /api/session to list the healthy gateway", func() bool {
		if time.Since(lastLogin) < 500*time.Millisecond { // the site rate-limits logins per address
			return false
		}
		lastLogin = time.Now()
		a = siteLogin(t, site, memberA, 1)
		return len(a.gatewayList) == 1
	})
	b = siteLogin(t, site, memberB, 2)
	grant := siteGrant(t, site, b.APIToken, memberA)

	presence := func(user uint64) (online bool, status int, lastSeen bool) {
		resp, err := http.Get(fmt.Sprintf("http://%s/v1/presence/%d", agentHTTP, user))
		if err != nil {
			return false, -1, false
		}
		defer resp.Body.Close()
		var p struct {
			Online   bool  `json:"online"`
			Status   int   `json:"status"`
			LastSeen int64 `json:"last_seen_ms"`
		}
		if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&p) != nil {
			return false, -1, false
		}
		return p.Online, p.Status, p.LastSeen > 0
	}
	checks := map[string]func() bool{
		"a-online":  func() bool { on, st, _ := presence(memberA); return on && st == 2 },
		"b-online":  func() bool { on, _, _ := presence(memberB); return on },
		"a-away":    func() bool { on, st, _ := presence(memberA); return on && st == 1 },
		"a-active":  func() bool { on, st, _ := presence(memberA); return on && st == 2 },
		"a-paused":  func() bool { on, _, seen := presence(memberA); return !on && seen },
		"a-resumed": func() bool { on, st, _ := presence(memberA); return on && st == 2 },
		"a-offline": func() bool { on, _, seen := presence(memberA); return !on && seen },
	}

	cmd := exec.Command(sdkBuild.ct, "e2e")
	cmd.Env = append(os.Environ(),
		"HL_A_TOKEN="+a.Token, "HL_A_KEY="+a.SessionKey, "HL_A_GATEWAYS="+string(a.Gateways), "HL_A_USER="+strconv.Itoa(memberA),
		"HL_B_TOKEN="+b.Token, "HL_B_KEY="+b.SessionKey, "HL_B_GATEWAYS="+string(b.Gateways), "HL_B_GRANT="+grant)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill() //nolint:errcheck // no-op once it exited
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	done, steps := false, 0
	overall := time.After(3 * time.Minute)
	for !done {
		select {
		case <-overall:
			t.Fatalf("the C program did not finish within 3 minutes (after %d steps); stderr:\n%s", steps, stderr.String())
		case line, ok := <-lines:
			if !ok {
				done = true
				break
			}
			t.Logf("C: %s", line)
			if step, ok := strings.CutPrefix(line, "WAIT "); ok {
				check := checks[step]
				if check == nil {
					t.Fatalf("the C program waits at unknown step %q", step)
				}
				proctest.WaitFor(t, 30*time.Second, "the agent's watcher to see step "+step, check)
				steps++
				if _, err := io.WriteString(stdin, "GO\n"); err != nil {
					t.Fatal(err)
				}
			}
			if kb, ok := strings.CutPrefix(line, "RSS "); ok {
				t.Logf("resident memory of the C program with two handles online: %s KiB", kb)
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the C program failed: %v\n%s", err, stderr.String())
	}
	if steps != len(checks) {
		t.Fatalf("the C program passed %d of %d steps", steps, len(checks))
	}
}

// appLogin is the part of POST /api/session's answer the test uses; Gateways stays raw, as
// an app would pass it to hl_create.
type appLogin struct {
	Token       string          `json:"token"`
	SessionKey  string          `json:"session_key"`
	APIToken    string          `json:"api_token"`
	Gateways    json.RawMessage `json:"gateways"`
	gatewayList []struct {
		UDP string `json:"udp"`
	}
}

func siteLogin(t *testing.T, site string, member uint64, device uint32) appLogin {
	t.Helper()
	body := fmt.Sprintf(`{"email":"demo%d@heartline.invalid","password":"heartline-demo-1","device_id":%d}`, member, device)
	resp, err := http.Post(site+"/api/session", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var l appLogin
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&l) != nil {
		t.Fatalf("POST /api/session as %d: %s", member, resp.Status)
	}
	json.Unmarshal(l.Gateways, &l.gatewayList) //nolint:errcheck // an empty list is retried
	return l
}

func siteGrant(t *testing.T, site, apiToken string, subject uint64) string {
	t.Helper()
	req, _ := http.NewRequest("POST", site+"/api/grant", strings.NewReader(fmt.Sprintf(`{"ids":[%d]}`, subject)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+apiToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var g struct {
		Grant string `json:"grant"`
	}
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&g) != nil || g.Grant == "" {
		t.Fatalf("POST /api/grant: %s", resp.Status)
	}
	return g.Grant
}

func httpOK(url string) bool {
	resp, err := http.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}
