package consulwriter

import (
	"fmt"
	"strconv"
	"time"

	"github.com/hashicorp/consul/api"
)

// ServiceOptions describe the gateway's Consul service registration.
type ServiceOptions struct {
	Name      string // default "heartline-gateway"
	GatewayID string // the service ID, and meta gateway_id
	Address   string // address apps should use; empty: the node address
	UDPPort   int
	TCPPort   int
	// HealthURL is the gateway's /healthz, checked by the local Consul agent.
	HealthURL     string
	CheckInterval time.Duration // default 5s
	// CheckTimeout must be below the session TTL, so a hung gateway fails its check
	// (and so its session) before the session would expire anyway. Default 2s.
	CheckTimeout time.Duration
	// DeregisterAfter removes a service whose check stayed critical this long. Default 1m.
	DeregisterAfter time.Duration
}

// CheckID is the service check's id; the session is tied to it.
func (o *ServiceOptions) CheckID() string { return "service:" + o.GatewayID }

func (o *ServiceOptions) defaults() {
	if o.Name == "" {
		o.Name = "heartline-gateway"
	}
	if o.CheckInterval == 0 {
		o.CheckInterval = 5 * time.Second
	}
	if o.CheckTimeout == 0 {
		o.CheckTimeout = 2 * time.Second
	}
	if o.DeregisterAfter == 0 {
		o.DeregisterAfter = time.Minute
	}
}

// RegisterService registers the gateway with the local Consul agent. sessionTTL is checked
// against the check timeout.
func RegisterService(c *api.Client, o ServiceOptions, sessionTTL time.Duration) error {
	o.defaults()
	if o.CheckTimeout >= sessionTTL {
		return fmt.Errorf("health check timeout %s must be below the session TTL %s; lower -check-timeout or raise -session-ttl", o.CheckTimeout, sessionTTL)
	}
	if o.HealthURL == "" {
		return fmt.Errorf("no gateway health URL; set -gateway-admin (the gateway's admin base URL)")
	}
	reg := &api.AgentServiceRegistration{
		ID:      o.GatewayID,
		Name:    o.Name,
		Address: o.Address,
		Port:    o.UDPPort,
		Meta: map[string]string{
			"gateway_id": o.GatewayID,
			"udp_port":   strconv.Itoa(o.UDPPort),
			"tcp_port":   strconv.Itoa(o.TCPPort),
		},
		Check: &api.AgentServiceCheck{
			CheckID:                        o.CheckID(),
			Name:                           "gateway /healthz",
			HTTP:                           o.HealthURL,
			Interval:                       o.CheckInterval.String(),
			Timeout:                        o.CheckTimeout.String(),
			DeregisterCriticalServiceAfter: o.DeregisterAfter.String(),
		},
	}
	if err := c.Agent().ServiceRegister(reg); err != nil {
		return fmt.Errorf("registering service %s (%s) with the local Consul agent: %w", o.Name, o.GatewayID, err)
	}
	return nil
}

// DeregisterService removes the gateway's service (and its check) from the local agent.
func DeregisterService(c *api.Client, gatewayID string) error {
	if err := c.Agent().ServiceDeregister(gatewayID); err != nil {
		return fmt.Errorf("deregistering service %s: %w", gatewayID, err)
	}
	return nil
}
