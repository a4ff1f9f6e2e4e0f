package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/consul/api"
)

// consulStore is one durable Consul server and a client whose connections are counted.
type consulStore struct {
	cl   *api.Client
	wire wireCounter
	pid  int
	sid  string
	stop chan struct{}
}

func startConsul(p *procs, bin string) (*consulStore, error) {
	var ports [4]int
	for i := range ports {
		var err error
		if ports[i], err = freePort(); err != nil {
			return nil, err
		}
	}
	hp, sl, sw, sv := ports[0], ports[1], ports[2], ports[3]
	conf := map[string]any{"node_name": "storepeer", "datacenter": "dc1", "data_dir": filepath.Join(p.dir, "consul"), "server": true, "bootstrap_expect": 1,
		"bind_addr": "127.0.0.1", "advertise_addr": "127.0.0.1", "client_addr": "127.0.0.1", "log_level": "warn", "disable_update_check": true,
		"performance": map[string]any{"raft_multiplier": 1}, "ui_config": map[string]any{"enabled": false}, "connect": map[string]any{"enabled": false},
		"ports": map[string]any{"http": hp, "https": -1, "dns": -1, "grpc": -1, "grpc_tls": -1, "serf_lan": sl, "serf_wan": sw, "server": sv}}
	cj, _ := json.Marshal(conf)
	confPath := filepath.Join(p.dir, "consul.json")
	if err := os.WriteFile(confPath, cj, 0o600); err != nil {
		return nil, err
	}
	cmd, err := p.spawn("consul", bin, "agent", "-config-file", confPath)
	if err != nil {
		return nil, err
	}
	s := &consulStore{pid: cmd.Process.Pid}
	cfg := api.DefaultConfig()
	cfg.Address = fmt.Sprintf("127.0.0.1:%d", hp)
	cfg.Transport.DialContext = s.wire.dial
	if s.cl, err = api.NewClient(cfg); err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		if l, err := s.cl.Status().Leader(); err == nil && l != "" {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("consul has no leader after 30s: %s", p.logTail("consul"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	return s, nil
}

func (s *consulStore) name() string              { return "consul" }
func (s *consulStore) serverPID() int            { return s.pid }
func (s *consulStore) wireBytes() (int64, int64) { return s.wire.out.Load(), s.wire.in.Load() }

// newOwner creates a session (TTL, Behavior=delete, as the agent does); renew keeps it alive
// until release is called.
func (s *consulStore) newOwner(ctx context.Context, ttl time.Duration, renew bool) (string, func(), error) {
	id, _, err := s.cl.Session().Create(&api.SessionEntry{Name: "storepeer", TTL: ttl.String(), Behavior: api.SessionBehaviorDelete, LockDelay: time.Millisecond}, nil)
	if err != nil {
		return "", nil, err
	}
	if !renew {
		return id, func() {}, nil
	}
	done := make(chan struct{})
	go func() { _ = s.cl.Session().RenewPeriodic(ttl.String(), id, nil, done) }()
	return id, func() { close(done) }, nil
}

func (s *consulStore) txn(ctx context.Context, owner string, keys []string, vals [][]byte) error {
	ops := make(api.TxnOps, len(keys))
	for i := range keys {
		ops[i] = &api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVLock, Key: keys[i], Value: vals[i], Session: owner}}
	}
	ok, resp, _, err := s.cl.Txn().Txn(ops, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return err
	}
	if !ok {
		if resp != nil && len(resp.Errors) > 0 {
			return fmt.Errorf("consul txn rolled back: %s", resp.Errors[0].What)
		}
		return fmt.Errorf("consul txn rolled back")
	}
	return nil
}

func (s *consulStore) count(ctx context.Context, prefix string) (int, error) {
	keys, _, err := s.cl.KV().Keys(prefix, "", (&api.QueryOptions{}).WithContext(ctx))
	return len(keys), err
}
