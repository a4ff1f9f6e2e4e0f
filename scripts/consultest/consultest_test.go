package consultest

import (
	"bytes"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

func TestServerWritesAndReadsKV(t *testing.T) {
	s := Start(t, nil)
	kv := s.Client().KV()
	want := []byte("green dot")
	if _, err := kv.Put(&api.KVPair{Key: "heartline-test/hello", Value: want}, nil); err != nil {
		t.Fatalf("put: %v", err)
	}
	got, _, err := kv.Get("heartline-test/hello", &api.QueryOptions{RequireConsistent: true})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if got == nil || !bytes.Equal(got.Value, want) {
		t.Fatalf("read back %v, want %q", got, want)
	}
}

func TestServerSurvivesRestartWithItsData(t *testing.T) {
	s := Start(t, nil)
	kv := s.Client().KV()
	if _, err := kv.Put(&api.KVPair{Key: "k", Value: []byte("v1")}, nil); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	if s.Running() {
		t.Fatal("server still running after Stop")
	}
	if _, _, err := kv.Get("k", nil); err == nil {
		t.Fatal("expected an error while Consul is down")
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitForLeader(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	got, _, err := kv.Get("k", nil)
	if err != nil || got == nil || string(got.Value) != "v1" {
		t.Fatalf("after restart got %v, %v; want v1", got, err)
	}
}

func TestClusterElectsNewLeaderAfterKill(t *testing.T) {
	c := StartCluster(t, 3, nil)
	leader, err := c.Leader()
	if err != nil {
		t.Fatal(err)
	}
	leader.Kill()
	deadline := time.Now().Add(30 * time.Second)
	for {
		next, err := c.Leader()
		if err == nil && next != leader {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new leader within 30s after killing %s", leader.NodeName)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
