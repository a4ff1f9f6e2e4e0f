package consultest

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"heartline/scripts/proctest"
)

// Options tune a test Consul. The zero value is a durable single server (Raft log on disk,
// fsync on), which is what the agent meets in production.
type Options struct {
	// SessionTTLMin lowers Consul's minimum session TTL (Consul's default is 10s) so tests
	// can exercise TTL expiry quickly. Zero keeps Consul's default.
	SessionTTLMin time.Duration
	// StartTimeout bounds the wait for a leader and a healthy node. Default 60s.
	StartTimeout time.Duration
	// HTTPSocket, when set, makes the HTTP API listen on this Unix socket too (beside
	// HTTPAddr), for tests of clients that reach Consul as unix:///path.
	HTTPSocket string
}

// Server is one real Consul server process started for a test.
type Server struct {
	NodeName string
	// HTTPAddr is host:port of the HTTP API, e.g. "127.0.0.1:38211".
	HTTPAddr string
	DataDir  string

	t          testing.TB
	opts       Options
	configPath string
	logPath    string

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	serfLAN int
	server  int
}

// Start starts a single Consul server, waits until it has elected itself leader and its
// node is healthy, and stops it when the test ends. It fails the test (never skips) when
// Consul cannot be started.
func Start(t testing.TB, opts *Options) *Server {
	t.Helper()
	c := StartCluster(t, 1, opts)
	return c.Servers[0]
}

// pickPorts chooses a server's four ports (a variable so a test can hand out a taken one).
var pickPorts = proctest.FreePorts

func newServer(t testing.TB, name string, opts Options, bootstrapExpect int) (*Server, error) {
	ports, err := pickPorts(4)
	if err != nil {
		return nil, err
	}
	cfg := map[string]any{
		"server":           true,
		"bootstrap_expect": bootstrapExpect,
		"performance":      map[string]any{"raft_multiplier": 1},
		"connect":          map[string]any{"enabled": false},
		"ports": map[string]any{
			"http": ports[0], "https": -1, "dns": -1, "grpc": -1, "grpc_tls": -1,
			"serf_lan": ports[1], "serf_wan": ports[2], "server": ports[3],
		},
	}
	if opts.SessionTTLMin > 0 {
		cfg["session_ttl_min"] = opts.SessionTTLMin.String()
	}
	if opts.HTTPSocket != "" {
		cfg["addresses"] = map[string]any{"http": "127.0.0.1 unix://" + opts.HTTPSocket}
	}
	s, err := newAgentProcess(t, name, ports[0], ports[1], cfg)
	if err != nil {
		return nil, err
	}
	s.opts, s.server = opts, ports[3]
	return s, nil
}

// newAgentProcess lays out one Consul agent (server or client) on loopback: its own temp
// directory, and a config file with what every test agent shares (node name, data dir,
// loopback addresses, no update check, no UI) plus cfg, which also carries the ports.
func newAgentProcess(t testing.TB, name string, httpPort, serfLAN int, cfg map[string]any) (*Server, error) {
	dir := t.TempDir()
	s := &Server{
		NodeName:   name,
		HTTPAddr:   fmt.Sprintf("127.0.0.1:%d", httpPort),
		DataDir:    filepath.Join(dir, "data"),
		t:          t,
		configPath: filepath.Join(dir, "consul.json"),
		logPath:    filepath.Join(dir, "consul.log"),
		serfLAN:    serfLAN,
	}
	all := map[string]any{
		"node_name":            name,
		"datacenter":           "dc1",
		"data_dir":             s.DataDir,
		"bind_addr":            "127.0.0.1",
		"advertise_addr":       "127.0.0.1",
		"client_addr":          "127.0.0.1",
		"log_level":            "info",
		"disable_update_check": true,
		"ui_config":            map[string]any{"enabled": false},
	}
	maps.Copy(all, cfg)
	raw, _ := json.MarshalIndent(all, "", "  ")
	if err := os.WriteFile(s.configPath, raw, 0o600); err != nil {
		return nil, err
	}
	return s, nil
}

// startOnFreePorts runs start, which picks its own ports, and runs it again (up to three
// attempts) when Consul could not bind one: the ports were free when pickPorts chose them,
// but another process (tests of other packages run in parallel) may bind one first. Any
// other error fails the test.
func startOnFreePorts[T any](t testing.TB, start func() (T, error)) T {
	t.Helper()
	for attempt := 1; ; attempt++ {
		v, err := start()
		if err == nil {
			return v
		}
		if attempt < 3 && strings.Contains(err.Error(), "address already in use") {
			t.Logf("consultest: a port was taken before Consul bound it; retrying on other ports (%d/3)", attempt+1)
			continue
		}
		t.Fatal(err)
	}
}

// setJoin points the server at its peers' Serf LAN addresses.
func (s *Server) setJoin(peers []string) error {
	raw, err := os.ReadFile(s.configPath)
	if err != nil {
		return err
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return err
	}
	cfg["retry_join"] = peers
	cfg["retry_interval"] = "1s"
	raw, _ = json.MarshalIndent(cfg, "", "  ")
	return os.WriteFile(s.configPath, raw, 0o600)
}

// Restart starts the process again with the same ports and data directory, for tests of
// Consul outages. It does not wait for a leader: use WaitForLeader.
func (s *Server) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("consultest: Restart on a server that is still running; call Stop or Kill first")
	}
	bin, err := Binary()
	if err != nil {
		return err
	}
	logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, "agent", "-config-file", s.configPath)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// Own process group, so a test killed mid-way does not leave Consul behind it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("consultest: starting %s: %w", bin, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait() //nolint:errcheck
		logFile.Close()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited
	return nil
}

// Stop sends SIGINT (a graceful leave) and waits for the process to exit.
func (s *Server) Stop() { s.signal(syscall.SIGINT, 20*time.Second) }

// Kill ends the process with SIGKILL, as a crash would.
func (s *Server) Kill() { s.signal(syscall.SIGKILL, 10*time.Second) }

func (s *Server) signal(sig syscall.Signal, grace time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(sig) //nolint:errcheck
	select {
	case <-s.exited:
	case <-time.After(grace):
		s.cmd.Process.Kill() //nolint:errcheck
		<-s.exited
	}
	s.cmd, s.exited = nil, nil
}

// Running reports whether the process is up.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// Config returns a consul/api configuration that talks to this server.
func (s *Server) Config() *api.Config {
	cfg := api.DefaultNonPooledConfig()
	cfg.Address = s.HTTPAddr
	cfg.Scheme = "http"
	cfg.Token = ""
	return cfg
}

// Client returns a consul/api client for this server.
func (s *Server) Client() *api.Client {
	c, err := api.NewClient(s.Config())
	if err != nil {
		s.t.Fatalf("consultest: api client: %v", err)
	}
	return c
}

// WaitForLeader waits until this server knows a leader and its own node is registered
// with a passing serfHealth check (sessions need it).
func (s *Server) WaitForLeader(timeout time.Duration) error {
	cfg := s.Config()
	// Bounded requests: whatever holds the port (Consul still starting, or another process
	// that took it) must not stall the wait past its deadline.
	cfg.HttpClient = &http.Client{Timeout: 2 * time.Second}
	c, err := api.NewClient(cfg)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if !s.Running() {
			return fmt.Errorf("consultest: consul %s exited; log tail:\n%s", s.NodeName, s.LogTail(40))
		}
		leader, err := c.Status().Leader()
		if err == nil && leader != "" {
			checks, _, err := c.Health().Node(s.NodeName, nil)
			if err == nil {
				for _, ch := range checks {
					if ch.CheckID == "serfHealth" && ch.Status == api.HealthPassing {
						return nil
					}
				}
				last = errors.New("node not yet registered with a passing serfHealth check")
			} else {
				last = err
			}
		} else if err != nil {
			last = err
		} else {
			last = errors.New("no leader yet")
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("consultest: consul %s not ready after %s: %v; log tail:\n%s", s.NodeName, timeout, last, s.LogTail(40))
}

// LogTail returns the last n lines of the server's log, for failure messages.
func (s *Server) LogTail(n int) string {
	raw, err := os.ReadFile(s.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
