package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"heartline/protocol/client"
	"heartline/protocol/hl1"
	"heartline/protocol/token"
	"heartline/scripts/consultest"
	"heartline/scripts/proctest"
)

// TestACLPoliciesAndMetrics runs the real gateway, agent and site against a real Consul
// with default-deny ACLs, each with a token holding only its policy as printed in
// agent/OPERATIONS.md, and checks the whole path: registration, session, presence writes,
// the site's gateway list and watcher, the gateway's subscriptions, clean shutdown. A token
// with the site's (read-only) policy must not be enough for the agent. On the way it checks
// the metrics reference: every heartline_* metric the three processes export is documented,
// and every one the guides name exists.
func TestACLPoliciesAndMetrics(t *testing.T) {
	bins := binaries(t)
	policies := docPolicies(t)
	for _, name := range []string{"heartline-agent", "heartline-gateway", "heartline-site"} {
		if policies[name] == "" {
			t.Fatalf("agent/OPERATIONS.md has no ```hcl %s block", name)
		}
	}
	dir := t.TempDir()
	consul, consulAddr := startACLConsul(t, dir)
	tokens := map[string]string{}
	for name, rules := range policies {
		p, _, err := consul.ACL().PolicyCreate(&api.ACLPolicy{Name: name, Rules: rules}, nil)
		if err != nil {
			t.Fatalf("policy %s: %v", name, err)
		}
		tok, _, err := consul.ACL().TokenCreate(&api.ACLToken{Description: name, Policies: []*api.ACLTokenPolicyLink{{ID: p.ID}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		tokens[name] = tok.SecretID
	}

	secret := make([]byte, 32)
	rand.Read(secret) //nolint:errcheck
	keyFile := filepath.Join(dir, "keys")
	if err := os.WriteFile(keyFile, []byte("1 "+hex.EncodeToString(secret)+" current\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	udp, tcp, gwAdmin := proctest.FreeAddr(t, "udp"), proctest.FreeAddr(t, "tcp"), proctest.FreeAddr(t, "tcp")
	agentHTTP, siteAddr, siteAdmin := proctest.FreeAddr(t, "tcp"), proctest.FreeAddr(t, "tcp"), proctest.FreeAddr(t, "tcp")
	feed := filepath.Join(dir, "feed.sock")
	_, udpPort, _ := net.SplitHostPort(udp)
	_, tcpPort, _ := net.SplitHostPort(tcp)

	startProc(t, dir, "gateway", filepath.Join(bins, "gateway"), []string{"CONSUL_HTTP_TOKEN=" + tokens["heartline-gateway"]},
		"-gateway-id", "gw-acl", "-udp-addr", udp, "-tcp-addr", tcp, "-admin-addr", gwAdmin, "-feed-socket", feed,
		"-secret-file", keyFile, "-consul-addr", consulAddr, "-loops", "1", "-max-sessions", "1024")
	agentArgs := []string{"-gateway-id", "gw-acl", "-feed-socket", feed, "-gateway-admin", "http://" + gwAdmin,
		"-gateway-address", "127.0.0.1", "-gateway-udp-port", udpPort, "-gateway-tcp-port", tcpPort,
		"-consul-addr", consulAddr, "-http-addr", agentHTTP, "-check-interval", "1s", "-check-timeout", "500ms", "-buckets", "64"}
	agent := startProc(t, dir, "agent", filepath.Join(bins, "agent"), nil,
		append(agentArgs, "-consul-token", tokens["heartline-agent"])...)
	startProc(t, dir, "site", filepath.Join(bins, "site"), nil,
		"-addr", siteAddr, "-admin-addr", siteAdmin, "-consul-addr", consulAddr, "-consul-token", tokens["heartline-site"],
		"-key-file", keyFile, "-db", filepath.Join(dir, "site.db"), "-demo-members", "2", "-secure-cookies=false")

	proctest.WaitFor(t, 30*time.Second, "agent /readyz (session held, feed snapshot, watcher loaded)", func() bool {
		return httpStatus("http://"+agentHTTP+"/readyz") == 200
	})

	proctest.WaitFor(t, 20*time.Second, "site /readyz", func() bool { return httpStatus("http://"+siteAdmin+"/readyz") == 200 })

	// An app logs in at the site (which lists the gateway from the Consul catalog) and says HELLO.
	var login struct {
		Token      string `json:"token"`
		SessionKey string `json:"session_key"`
		APIToken   string `json:"api_token"`
		Gateways   []struct {
			UDP string `json:"udp"`
			TCP string `json:"tcp"`
		} `json:"gateways"`
	}
	loginAt := func(device int) client.Credentials {
		body := fmt.Sprintf(`{"email":"demo100001@heartline.invalid","password":"heartline-demo-1","device_id":%d}`, device)
		proctest.WaitFor(t, 20*time.Second, "POST /api/session with a gateway listed", func() bool {
			resp, err := http.Post("http://"+siteAddr+"/api/session", "application/json", strings.NewReader(body))
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			login.Gateways = nil
			return resp.StatusCode == 200 && json.NewDecoder(resp.Body).Decode(&login) == nil && len(login.Gateways) > 0
		})

		tok, err := token.ParseText(login.Token)
		if err != nil {
			t.Fatal(err)
		}
		key, err := base64.RawURLEncoding.DecodeString(login.SessionKey)
		if err != nil || len(key) != token.SessionKeySize {
			t.Fatalf("session_key %q: %v", login.SessionKey, err)
		}
		var c client.Credentials
		c.Token = tok.Bytes()
		copy(c.Key[:], key)
		return c
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	app, err := client.New(loginAt(1), client.Options{Gateways: []string{login.Gateways[0].UDP}, Active: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	proctest.WaitFor(t, 10*time.Second, "member online in the agent's query API", func() bool {
		return strings.Contains(httpBody("http://"+agentHTTP+"/v1/presence/100001"), `"online":true`)
	})

	proctest.WaitFor(t, 10*time.Second, "member online on the site", func() bool {
		req, _ := http.NewRequest("GET", "http://"+siteAddr+"/api/presence?ids=100001", nil)
		req.Header.Set("Authorization", "Bearer "+login.APIToken) // presence is for signed-in members
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), `"online":true`)
	})
	// The site writes privacy records with its token (check-and-set on <prefix>/privacy/).
	grantReq, _ := http.NewRequest("POST", "http://"+siteAddr+"/api/grant", strings.NewReader(`{"ids":[100002]}`))
	grantReq.Header.Set("Content-Type", "application/json")
	grantReq.Header.Set("Authorization", "Bearer "+login.APIToken)
	if resp, err := http.DefaultClient.Do(grantReq); err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST /api/grant: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// A second device subscribes over TCP: the gateway's watcher reads KV with its token.
	events := make(chan hl1.Event, 16)
	sub, err := client.New(loginAt(2), client.Options{Gateways: []string{login.Gateways[0].TCP}, Network: "tcp",
		OnEvent: func(e hl1.Event) { events <- e }})
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	go sub.Run(ctx) //nolint:errcheck
	if err := sub.Subscribe([]uint64{100001}); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-events:
		if e.UserID != 100001 || e.State == hl1.StateOffline {
			t.Fatalf("EVENT %+v: want user 100001 online", e)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no EVENT for the subscription: the gateway's watcher cannot read presence (see gateway.log)")
	}
	sub.Close()
	checkMetricsReference(t, "http://"+gwAdmin+"/metrics", "http://"+agentHTTP+"/metrics", "http://"+siteAdmin+"/metrics")

	// Clean shutdown: flush, destroy the session, deregister — all allowed by the policy.
	agent.Process.Signal(syscall.SIGTERM) //nolint:errcheck
	if err := agent.Wait(); err != nil {
		t.Fatalf("agent exit: %v\n%s", err, readLog(t, dir, "agent"))
	}
	if log := readLog(t, dir, "agent"); regexp.MustCompile(`(?i)permission denied|ACL not found`).MatchString(log) {
		t.Fatalf("agent hit an ACL denial:\n%s", log)
	}
	if svcs, _, err := consul.Catalog().Service("heartline-gateway", "", nil); err != nil || len(svcs) != 0 {
		t.Fatalf("service still registered after the agent's shutdown (%d entries, err %v)", len(svcs), err)
	}

	// The site's read-only token is not enough for an agent.
	startProc(t, dir, "agent-readonly", filepath.Join(bins, "agent"), nil,
		append(agentArgs, "-consul-token", tokens["heartline-site"])...)
	proctest.WaitFor(t, 20*time.Second, "read-only agent logs a permission error", func() bool {
		return strings.Contains(strings.ToLower(readLog(t, dir, "agent-readonly")), "permission denied")
	})

	if httpStatus("http://"+agentHTTP+"/readyz") == 200 {
		t.Fatal("an agent with a read-only token became ready")
	}
}

// docPolicies reads the ```hcl <name> blocks of agent/OPERATIONS.md.
func docPolicies(t *testing.T) map[string]string {
	raw, err := os.ReadFile(filepath.Join(root, "agent/OPERATIONS.md"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, m := range regexp.MustCompile("(?s)```hcl (heartline-[a-z]+)\n(.*?)```").FindAllStringSubmatch(string(raw), -1) {
		out[m[1]] = m[2]
	}
	return out
}

// startACLConsul starts one Consul server with default-deny ACLs (same config style as
// scripts/consultest) and returns a management client and the HTTP address.
func startACLConsul(t *testing.T, dir string) (*api.Client, string) {
	bin, err := consultest.Binary()
	if err != nil {
		t.Fatal(err)
	}
	mgmt := "6f9d1c8e-3a57-4b2e-9e41-0c5f2d7a8b13"
	ports := make([]int, 4)
	for i := range ports {
		_, p, _ := net.SplitHostPort(proctest.FreeAddr(t, "tcp"))
		fmt.Sscan(p, &ports[i]) //nolint:errcheck
	}
	cfg := map[string]any{
		"node_name": "acl-node", "datacenter": "dc1", "data_dir": filepath.Join(dir, "consul-data"),
		"server": true, "bootstrap_expect": 1, "bind_addr": "127.0.0.1", "advertise_addr": "127.0.0.1",
		"client_addr": "127.0.0.1", "log_level": "info", "disable_update_check": true,
		"performance": map[string]any{"raft_multiplier": 1}, "ui_config": map[string]any{"enabled": false},
		"connect": map[string]any{"enabled": false},
		"ports": map[string]any{"http": ports[0], "https": -1, "dns": -1, "grpc": -1, "grpc_tls": -1,
			"serf_lan": ports[1], "serf_wan": ports[2], "server": ports[3]},
		"acl": map[string]any{"enabled": true, "default_policy": "deny", "down_policy": "extend-cache",
			"tokens": map[string]any{"initial_management": mgmt, "agent": mgmt}},
	}
	raw, _ := json.Marshal(cfg)
	path := filepath.Join(dir, "consul.json")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	startProc(t, dir, "consul", bin, nil, "agent", "-config-file", path)
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	c, err := api.NewClient(&api.Config{Address: addr, Token: mgmt})
	if err != nil {
		t.Fatal(err)
	}
	proctest.WaitFor(t, 60*time.Second, "Consul leader and a healthy node", func() bool {
		checks, _, err := c.Health().Node("acl-node", nil)
		if err != nil {
			return false
		}
		for _, ch := range checks {
			if ch.CheckID == "serfHealth" && ch.Status == api.HealthPassing {
				return true
			}
		}
		return false
	})

	return c, addr
}

// startProc runs a process logging to <dir>/<name>.log; it is killed when the test ends.
func startProc(t *testing.T, dir, name, bin string, env []string, args ...string) *exec.Cmd {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill() //nolint:errcheck
			cmd.Wait()         //nolint:errcheck
		}
		f.Close()
		if t.Failed() {
			t.Logf("%s log:\n%s", name, tail(readLog(t, dir, name), 4000))
		}
	})
	return cmd
}

func readLog(t *testing.T, dir, name string) string {
	b, _ := os.ReadFile(filepath.Join(dir, name+".log"))
	return string(b)
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func httpStatus(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body) //nolint:errcheck
	return resp.StatusCode
}

func httpBody(url string) string {
	resp, err := http.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	io.Copy(&b, resp.Body) //nolint:errcheck
	return b.String()
}

// lazyMetrics are labelled counters that appear only once incremented; the test run does not
// sign anyone up. Each must still be defined in the named source file.
var lazyMetrics = map[string]string{"heartline_site_signups_total": "site/internal/web/metrics.go"}

var metricName = regexp.MustCompile(`heartline_(?:gateway|agent|site)_[a-z0-9_]*[a-z0-9]`)

func checkMetricsReference(t *testing.T, urls ...string) {
	t.Helper()
	exported := map[string]bool{}
	for _, u := range urls {
		for _, line := range strings.Split(httpBody(u), "\n") {
			if f := strings.Fields(line); len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" && strings.HasPrefix(f[2], "heartline_") {
				exported[f[2]] = true
			}
		}
	}
	if len(exported) < 30 {
		t.Fatalf("only %d heartline_* metrics scraped from %v", len(exported), urls)
	}
	documented := map[string]bool{}
	for _, doc := range []string{"gateway/OPERATIONS.md", "agent/OPERATIONS.md"} {
		raw, err := os.ReadFile(filepath.Join(root, doc))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range metricName.FindAllString(string(raw), -1) {
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				if base := strings.TrimSuffix(m, suf); base != m && exported[base] {
					m = base
				}
			}
			documented[m] = true
		}
	}
	for m := range exported {
		if !documented[m] {
			t.Errorf("metric %s is exported but not in the operations guides' metrics reference", m)
		}
	}
	for m := range documented {
		if exported[m] {
			continue
		}
		if src, ok := lazyMetrics[m]; ok {
			raw, _ := os.ReadFile(filepath.Join(root, src))
			short := strings.TrimPrefix(m, "heartline_site_")
			if strings.Contains(string(raw), `Name: "`+short+`"`) {
				continue
			}
		}
		t.Errorf("the operations guides name metric %s, which no process exports", m)
	}
}
