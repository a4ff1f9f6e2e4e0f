package wiring

import (
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/consul/api"

	"heartline/scripts/consultest"
)

// shortDir is a temporary directory with a short path: a Unix socket path must fit in
// 108 bytes, which t.TempDir's often does not.
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "hl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// leaderServer answers GET /v1/status/leader and records the ACL token of each request.
type leaderServer struct {
	mu     sync.Mutex
	tokens []string
}

func (s *leaderServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.tokens = append(s.tokens, r.Header.Get("X-Consul-Token"))
	s.mu.Unlock()
	if r.URL.Path != "/v1/status/leader" {
		http.NotFound(w, r)
		return
	}
	w.Write([]byte(`"127.0.0.1:8300"`)) //nolint:errcheck
}

func (s *leaderServer) lastToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.tokens) == 0 {
		return ""
	}
	return s.tokens[len(s.tokens)-1]
}

// clearConsulEnv unsets the CONSUL_* variables consul/api reads, for this test.
func clearConsulEnv(t *testing.T) {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "CONSUL_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
}

func askLeader(t *testing.T, o ConsulOptions) {
	t.Helper()
	c, err := Consul(o)
	if err != nil {
		t.Fatal(err)
	}
	leader, err := c.Status().Leader()
	if err != nil {
		t.Fatalf("%+v: %v", o, err)
	}
	if leader != "127.0.0.1:8300" {
		t.Fatalf("leader %q", leader)
	}
}

// A Consul agent reached over a Unix socket: unix:///path works from -consul-addr and
// from CONSUL_HTTP_ADDR (the agent used to split the scheme off the flag itself and so
// turned unix:///path into an http URL with scheme "unix").
func TestConsulOverAUnixSocket(t *testing.T) {
	clearConsulEnv(t)
	sock := filepath.Join(shortDir(t), "c.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &leaderServer{}
	hs := &http.Server{Handler: srv}
	go hs.Serve(ln) //nolint:errcheck
	t.Cleanup(func() { hs.Close() })

	askLeader(t, ConsulOptions{Addr: "unix://" + sock, Token: "flag-token"})
	if got := srv.lastToken(); got != "flag-token" {
		t.Fatalf("token sent %q, want the -consul-token value", got)
	}
	t.Setenv("CONSUL_HTTP_ADDR", "unix://"+sock)
	t.Setenv("CONSUL_HTTP_TOKEN", "env-token")
	askLeader(t, ConsulOptions{})
	if got := srv.lastToken(); got != "env-token" {
		t.Fatalf("token sent %q, want CONSUL_HTTP_TOKEN's", got)
	}
	askLeader(t, ConsulOptions{Timeout: 3e9}) // a request timeout does not break unix://
}

// https:// from the flag or the environment, with the CA from CONSUL_CACERT.
func TestConsulOverHTTPSWithTheEnvironmentsCA(t *testing.T) {
	clearConsulEnv(t)
	srv := httptest.NewTLSServer(&leaderServer{})
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CONSUL_CACERT", ca)
	askLeader(t, ConsulOptions{Addr: srv.URL}) // https://127.0.0.1:port
	askLeader(t, ConsulOptions{Addr: srv.URL, Timeout: 3e9})
	t.Setenv("CONSUL_HTTP_ADDR", srv.URL)
	askLeader(t, ConsulOptions{})

	// Without the CA the server's certificate must be refused: TLS is really in use.
	os.Unsetenv("CONSUL_CACERT")
	c, err := Consul(ConsulOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Status().Leader(); err == nil {
		t.Fatal("a certificate from an unknown CA was accepted")
	}
}

// The same against a real Consul listening on a Unix socket beside its TCP port.
func TestConsulOverAUnixSocketWithARealConsul(t *testing.T) {
	sock := filepath.Join(shortDir(t), "consul.sock")
	s := consultest.Start(t, &consultest.Options{HTTPSocket: sock})
	clearConsulEnv(t)
	for _, o := range []ConsulOptions{{Addr: "unix://" + sock}, {Addr: "http://" + s.HTTPAddr}, {Addr: s.HTTPAddr}} {
		c, err := Consul(o)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.KV().Put(&api.KVPair{Key: "wiring/" + strings.NewReplacer("/", "_", ":", "_").Replace(o.Addr), Value: []byte("x")}, nil); err != nil {
			t.Fatalf("%s: KV put: %v", o.Addr, err)
		}
	}
	t.Setenv("CONSUL_HTTP_ADDR", "unix://"+sock)
	c, err := Consul(ConsulOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pairs, _, err := c.KV().List("wiring/", nil)
	if err != nil {
		t.Fatalf("CONSUL_HTTP_ADDR=unix://…: %v", err)
	}
	if len(pairs) != 3 {
		t.Fatalf("%d keys written through the three address forms, want 3", len(pairs))
	}
}
