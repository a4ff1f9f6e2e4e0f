package wiring

import (
	"fmt"
	"time"

	"github.com/hashicorp/consul/api"
)

// ConsulOptions are a process's Consul flags. Empty fields leave consul/api's own
// configuration (its CONSUL_* environment and defaults) as it is.
type ConsulOptions struct {
	// Addr is -consul-addr: host:port, or an address with a scheme (http://, https://,
	// unix:///path), which consul/api itself parses.
	Addr  string
	Token string // -consul-token
	// Timeout bounds each HTTP request (0: none; blocking queries need none). consul/api
	// replaces the HTTP client for unix:// addresses, so there it does not apply.
	Timeout time.Duration
}

// ConsulConfig is consul/api's DefaultConfig (which reads CONSUL_HTTP_ADDR,
// CONSUL_HTTP_TOKEN, CONSUL_HTTP_SSL, CONSUL_CACERT, CONSUL_CLIENT_CERT, …) with the flags
// laid over it. The address is passed on as given: consul/api's NewClient splits the scheme
// off, so every form it supports works from the flag as from the environment.
func ConsulConfig(o ConsulOptions) *api.Config {
	cc := api.DefaultConfig()
	if o.Addr != "" {
		cc.Address = o.Addr
	}
	if o.Token != "" {
		cc.Token = o.Token
	}
	return cc
}

// Consul builds the client from ConsulConfig(o).
func Consul(o ConsulOptions) (*api.Client, error) {
	cc := ConsulConfig(o)
	if o.Timeout > 0 {
		hc, err := api.NewHttpClient(cc.Transport, cc.TLSConfig)
		if err != nil {
			return nil, fmt.Errorf("Consul client (%s): %w", cc.Address, err)
		}
		hc.Timeout = o.Timeout
		cc.HttpClient = hc
	}
	c, err := api.NewClient(cc)
	if err != nil {
		return nil, fmt.Errorf("Consul client (%s): %w; set -consul-addr or CONSUL_HTTP_ADDR to host:port, http://, https:// or unix:///path", cc.Address, err)
	}
	return c, nil
}
