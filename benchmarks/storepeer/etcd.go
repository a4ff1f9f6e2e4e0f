package main

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
)

// etcdStore is one durable etcd server (fsync on, the default) and a client whose
// connections are counted.
type etcdStore struct {
	cl   *clientv3.Client
	wire wireCounter
	pid  int
}

func startEtcd(p *procs, bin string) (*etcdStore, error) {
	cp, err := freePort()
	if err != nil {
		return nil, err
	}
	pp, err := freePort()
	if err != nil {
		return nil, err
	}
	curl, purl := fmt.Sprintf("http://127.0.0.1:%d", cp), fmt.Sprintf("http://127.0.0.1:%d", pp)
	cmd, err := p.spawn("etcd", bin, "--name", "storepeer", "--data-dir", filepath.Join(p.dir, "etcd"),
		"--listen-client-urls", curl, "--advertise-client-urls", curl, "--listen-peer-urls", purl,
		"--initial-advertise-peer-urls", purl, "--initial-cluster", "storepeer="+purl, "--initial-cluster-state", "new",
		"--logger", "zap", "--log-level", "warn")
	if err != nil {
		return nil, err
	}
	s := &etcdStore{pid: cmd.Process.Pid}
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		if i := strings.Index(addr, "://"); i >= 0 {
			addr = addr[i+3:]
		}
		return s.wire.dial(ctx, "tcp", addr)
	}
	s.cl, err = clientv3.New(clientv3.Config{Endpoints: []string{fmt.Sprintf("127.0.0.1:%d", cp)}, DialTimeout: 5 * time.Second,
		Logger: zap.NewNop(), DialOptions: []grpc.DialOption{grpc.WithContextDialer(dial)}})
	if err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := s.cl.Get(ctx, "storepeer/ready")
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("etcd not serving after 30s (%v): %s", err, p.logTail("etcd"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	return s, nil
}

func (s *etcdStore) name() string              { return "etcd" }
func (s *etcdStore) serverPID() int            { return s.pid }
func (s *etcdStore) wireBytes() (int64, int64) { return s.wire.out.Load(), s.wire.in.Load() }

// newOwner grants a lease (the etcd counterpart of a Consul session with Behavior=delete);
// renew keeps it alive until release is called.
func (s *etcdStore) newOwner(ctx context.Context, ttl time.Duration, renew bool) (string, func(), error) {
	l, err := s.cl.Grant(ctx, int64(ttl/time.Second))
	if err != nil {
		return "", nil, err
	}
	id := fmt.Sprintf("%x", int64(l.ID))
	if !renew {
		return id, func() {}, nil
	}
	kctx, cancel := context.WithCancel(context.Background())
	ch, err := s.cl.KeepAlive(kctx, l.ID)
	if err != nil {
		cancel()
		return "", nil, err
	}
	go func() {
		for range ch {
		}
	}()
	return id, cancel, nil
}

func (s *etcdStore) txn(ctx context.Context, owner string, keys []string, vals [][]byte) error {
	var id int64
	if _, err := fmt.Sscanf(owner, "%x", &id); err != nil {
		return err
	}
	ops := make([]clientv3.Op, len(keys))
	for i := range keys {
		ops[i] = clientv3.OpPut(keys[i], string(vals[i]), clientv3.WithLease(clientv3.LeaseID(id)))
	}
	resp, err := s.cl.Txn(ctx).Then(ops...).Commit()
	if err != nil {
		return err
	}
	if !resp.Succeeded {
		return fmt.Errorf("etcd txn did not succeed")
	}
	return nil
}

func (s *etcdStore) count(ctx context.Context, prefix string) (int, error) {
	r, err := s.cl.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return 0, err
	}
	return int(r.Count), nil
}
