package catalog

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"
)

// Gateway is one healthy gateway as handed to apps.
type Gateway struct {
	ID  string `json:"id"`
	UDP string `json:"udp"`           // host:port for HL1 over UDP
	TCP string `json:"tcp,omitempty"` // host:port for the TCP fallback and subscriptions
}

// Options configure a Catalog.
type Options struct {
	Client  *api.Client
	Service string        // default "heartline-gateway"
	TTL     time.Duration // cache lifetime, default 2s
	Now     func() time.Time
}

// Catalog answers Gateways from Consul's health endpoint.
type Catalog struct {
	o     Options
	mu    sync.Mutex
	at    time.Time
	cache []Gateway
}

// New returns a Catalog.
func New(o Options) *Catalog {
	if o.Service == "" {
		o.Service = "heartline-gateway"
	}
	if o.TTL == 0 {
		o.TTL = 2 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Catalog{o: o}
}

// Gateways returns the passing gateways, sorted by id.
func (c *Catalog) Gateways(ctx context.Context) ([]Gateway, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.o.Now()
	if c.cache != nil && now.Sub(c.at) < c.o.TTL {
		return c.cache, nil
	}
	entries, _, err := c.o.Client.Health().Service(c.o.Service, "", true, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("catalog: listing healthy %s services from Consul: %w", c.o.Service, err)
	}
	out := make([]Gateway, 0, len(entries))
	for _, e := range entries {
		if g, ok := FromEntry(e); ok {
			out = append(out, g)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	c.cache, c.at = out, now
	return out, nil
}

// FromEntry converts one health entry; ok is false when it has no usable address.
func FromEntry(e *api.ServiceEntry) (Gateway, bool) {
	if e.Service == nil {
		return Gateway{}, false
	}
	host := e.Service.Address
	if host == "" && e.Node != nil {
		host = e.Node.Address
	}
	if host == "" {
		return Gateway{}, false
	}
	id := e.Service.Meta["gateway_id"]
	if id == "" {
		id = e.Service.ID
	}
	udp := e.Service.Port
	if p, err := strconv.Atoi(e.Service.Meta["udp_port"]); err == nil && p > 0 {
		udp = p
	}
	if udp <= 0 {
		return Gateway{}, false
	}
	g := Gateway{ID: id, UDP: net.JoinHostPort(host, strconv.Itoa(udp))}
	if p, err := strconv.Atoi(e.Service.Meta["tcp_port"]); err == nil && p > 0 {
		g.TCP = net.JoinHostPort(host, strconv.Itoa(p))
	}
	return g, true
}
