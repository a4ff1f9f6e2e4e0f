package consultest

import (
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ClientOptions tune a test Consul client agent.
type ClientOptions struct {
	// StartTimeout bounds the wait until the client sees a leader through the server and
	// its node is registered with a passing serfHealth check. Default 60s.
	StartTimeout time.Duration
	// LogLevel of the client's log (LogTail). Default "info" (serf's reconnect attempts and
	// joins are logged at info).
	LogLevel string
}

// ClientAgent is a Consul client agent (server = false) joined to a test server: what runs
// on a gateway host beside the Heartline agent. It has the lifecycle methods of Server
// (Kill, Stop, Restart, Running, Config, Client, WaitForLeader, LogTail); its HTTPAddr is the
// local agent address the Heartline agent talks to.
type ClientAgent struct {
	*Server

	startMu sync.Mutex
	started time.Time
}

var clientSeq atomic.Int64

// StartClient starts a Consul client agent that joins server's Serf LAN address
// (retry_join, so only at its start), waits until it is usable, and kills it when the test
// ends. It fails the test (never skips) when the agent cannot be started.
func StartClient(t testing.TB, server *Server, opts *ClientOptions) *ClientAgent {
	t.Helper()
	var o ClientOptions
	if opts != nil {
		o = *opts
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 60 * time.Second
	}
	if o.LogLevel == "" {
		o.LogLevel = "info"
	}
	return startOnFreePorts(t, func() (*ClientAgent, error) { return startClient(t, server, o) })
}

// startClient makes one attempt; on error the agent it started is killed again.
func startClient(t testing.TB, server *Server, o ClientOptions) (*ClientAgent, error) {
	ports, err := pickPorts(2)
	if err != nil {
		return nil, fmt.Errorf("consultest: %v", err)
	}
	s, err := newAgentProcess(t, fmt.Sprintf("client-%d", clientSeq.Add(1)), ports[0], ports[1], map[string]any{
		"server":         false,
		"log_level":      o.LogLevel,
		"retry_join":     []string{server.SerfLANAddr()},
		"retry_interval": "1s",
		"ports": map[string]any{
			"http": ports[0], "https": -1, "dns": -1, "grpc": -1, "grpc_tls": -1,
			"serf_lan": ports[1], "serf_wan": -1,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("consultest: %v", err)
	}
	c := &ClientAgent{Server: s}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("consultest: log tail of %s:\n%s", s.NodeName, s.LogTail(30))
		}
		s.Kill()
	})
	if err := c.Restart(); err != nil {
		return nil, err
	}
	if err := s.WaitForLeader(o.StartTimeout); err != nil {
		s.Kill()
		return nil, err
	}
	return c, nil
}

// Restart starts the client agent's process again (same ports and data directory).
func (c *ClientAgent) Restart() error {
	c.startMu.Lock()
	defer c.startMu.Unlock()
	if err := c.Server.Restart(); err != nil {
		return err
	}
	c.started = time.Now()
	return nil
}

// Started is when the process was last started. Serf's timers (e.g. its 30 s reconnect
// ticker) run from shortly after that, which tests of reconnect timing need to know.
func (c *ClientAgent) Started() time.Time {
	c.startMu.Lock()
	defer c.startMu.Unlock()
	return c.started
}

// SerfLANAddr is host:port of the agent's Serf LAN listener (what `consul join` takes).
func (s *Server) SerfLANAddr() string { return fmt.Sprintf("127.0.0.1:%d", s.serfLAN) }

// SerfSnapshotPath is the file where the agent remembers its Serf members across restarts
// (<data_dir>/serf/local.snapshot). Deleting it while the agent is down makes it start
// without knowing the other members, so it does not rejoin them by itself.
func (s *Server) SerfSnapshotPath() string { return filepath.Join(s.DataDir, "serf", "local.snapshot") }
