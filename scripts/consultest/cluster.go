package consultest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// Cluster is a set of Consul servers on loopback ports that form one Raft cluster.
type Cluster struct {
	Servers []*Server
	t       testing.TB
}

// StartCluster starts n Consul servers (1 or 3 in practice), joins them, and waits until
// every one of them sees a leader. All are stopped when the test ends.
func StartCluster(t testing.TB, n int, opts *Options) *Cluster {
	t.Helper()
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 60 * time.Second
	}
	if _, err := Binary(); err != nil {
		t.Fatal(err)
	}
	return startOnFreePorts(t, func() (*Cluster, error) { return startCluster(t, n, o) })
}

// startCluster makes one attempt: on error every server it started is killed again.
func startCluster(t testing.TB, n int, o Options) (*Cluster, error) {
	c := &Cluster{t: t}
	for i := 0; i < n; i++ {
		s, err := newServer(t, fmt.Sprintf("consul-%d", i), o, n)
		if err != nil {
			return nil, fmt.Errorf("consultest: %v", err)
		}
		c.Servers = append(c.Servers, s)
	}
	if n > 1 {
		for _, s := range c.Servers {
			var peers []string
			for _, p := range c.Servers {
				if p != s {
					peers = append(peers, fmt.Sprintf("127.0.0.1:%d", p.serfLAN))
				}
			}
			if err := s.setJoin(peers); err != nil {
				return nil, fmt.Errorf("consultest: %v", err)
			}
		}
	}
	t.Cleanup(func() {
		failed := t.Failed()
		for _, s := range c.Servers {
			if failed {
				t.Logf("consultest: log tail of %s:\n%s", s.NodeName, s.LogTail(20))
			}
			s.Kill()
		}
	})
	var err error
	for _, s := range c.Servers {
		if err = s.Restart(); err != nil {
			break
		}
	}
	if err == nil {
		err = c.waitForLeaders(o.StartTimeout)
	}
	if err != nil {
		for _, s := range c.Servers {
			s.Kill()
		}
		return nil, err
	}
	return c, nil
}

// waitForLeaders waits until every server knows a leader. A server that exits meanwhile
// (typically a port picked for it was taken before it bound it) ends the wait at once with
// its log, so that StartCluster retries on other ports instead of waiting out the timeout
// for a quorum that cannot form.
func (c *Cluster) waitForLeaders(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, s := range c.Servers {
		for {
			for _, o := range c.Servers {
				if !o.Running() {
					return fmt.Errorf("consultest: %s exited while the cluster formed: %s", o.NodeName, o.LogTail(5))
				}
			}
			err := s.WaitForLeader(min(time.Until(deadline), time.Second))
			if err == nil {
				break
			}
			if time.Until(deadline) <= 0 {
				return err
			}
		}
	}
	return nil
}

// Leader returns the server that is the Raft leader now.
func (c *Cluster) Leader() (*Server, error) {
	for _, s := range c.Servers {
		if !s.Running() {
			continue
		}
		cl, err := api.NewClient(s.Config())
		if err != nil {
			continue
		}
		leader, err := cl.Status().Leader()
		if err != nil || leader == "" {
			continue
		}
		for _, cand := range c.Servers {
			if leader == fmt.Sprintf("127.0.0.1:%d", cand.server) {
				return cand, nil
			}
		}
	}
	return nil, errors.New("consultest: no running server reports a leader")
}

// Addrs returns the HTTP addresses of the running servers.
func (c *Cluster) Addrs() []string {
	var out []string
	for _, s := range c.Servers {
		if s.Running() {
			out = append(out, s.HTTPAddr)
		}
	}
	return out
}
