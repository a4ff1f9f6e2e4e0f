package catalog

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"heartline/scripts/consultest"
)

func TestFromEntry(t *testing.T) {
	e := &api.ServiceEntry{Node: &api.Node{Address: "10.0.0.5"}, Service: &api.AgentService{ID: "gw-a", Port: 7946,
		Meta: map[string]string{"gateway_id": "gw-a", "udp_port": "7000", "tcp_port": "7001"}}}
	g, ok := FromEntry(e)
	if !ok || g != (Gateway{ID: "gw-a", UDP: "10.0.0.5:7000", TCP: "10.0.0.5:7001"}) {
		t.Fatalf("%+v %v", g, ok)
	}
	e.Service.Address, e.Service.Meta = "::1", nil
	if g, ok := FromEntry(e); !ok || g.UDP != "[::1]:7946" || g.TCP != "" || g.ID != "gw-a" {
		t.Fatalf("service address, no meta: %+v", g)
	}
	if _, ok := FromEntry(&api.ServiceEntry{Service: &api.AgentService{Port: 1}}); ok {
		t.Fatal("entry without any address accepted")
	}
}

// Against a real Consul: only gateways whose checks pass are listed, with the agent's meta.
func TestGatewaysFromConsul(t *testing.T) {
	s := consultest.Start(t, nil)
	c := s.Client()
	reg := func(id string, udp, tcp string, status string) {
		t.Helper()
		err := c.Agent().ServiceRegister(&api.AgentServiceRegistration{ID: id, Name: "heartline-gateway", Address: "127.0.0.1", Port: 7946,
			Meta:  map[string]string{"gateway_id": id, "udp_port": udp, "tcp_port": tcp},
			Check: &api.AgentServiceCheck{CheckID: "service:" + id, TTL: "1m", Status: status}})
		if err != nil {
			t.Fatal(err)
		}
	}
	reg("gw-b", "8002", "8102", api.HealthPassing)
	reg("gw-a", "8001", "8101", api.HealthPassing)
	reg("gw-sick", "8003", "8103", api.HealthCritical)
	now := time.Unix(1000, 0)
	cat := New(Options{Client: c, Now: func() time.Time { return now }})
	got, err := cat.Gateways(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []Gateway{{ID: "gw-a", UDP: "127.0.0.1:8001", TCP: "127.0.0.1:8101"}, {ID: "gw-b", UDP: "127.0.0.1:8002", TCP: "127.0.0.1:8102"}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("gateways %+v, want %+v", got, want)
	}
	// gw-a fails its check: still cached within the TTL, gone after it.
	if err := c.Agent().UpdateTTL("service:gw-a", "down", api.HealthCritical); err != nil {
		t.Fatal(err)
	}
	if got, _ := cat.Gateways(context.Background()); len(got) != 2 {
		t.Fatalf("within the cache TTL: %+v", got)
	}
	now = now.Add(3 * time.Second)
	if got, _ := cat.Gateways(context.Background()); len(got) != 1 || got[0].ID != "gw-b" {
		t.Fatalf("after gw-a failed: %+v", got)
	}
}
