package consulrejoin

import "github.com/hashicorp/consul/api"

// Agent is the slice of the local Consul agent's HTTP API the rejoiner uses. *api.Agent
// (client.Agent()) satisfies it; give it a client whose HTTP timeout is short (a few
// seconds), because a join to an unreachable server blocks until memberlist's TCP timeout.
type Agent interface {
	// Members is GET /v1/agent/members (ACL: node:read on the members, else they are
	// silently filtered out).
	Members(wan bool) ([]*api.AgentMember, error)
	// Join is PUT /v1/agent/join/<addr> (ACL: agent:write on the local agent's node).
	Join(addr string, wan bool) error
}

// Serf member status values as reported by /v1/agent/members (serf.MemberStatus).
const (
	statusAlive   = 1
	statusLeaving = 2
	statusLeft    = 3
	statusFailed  = 4
)

// serverRoleTag marks Consul servers in serf tags ("node" marks client agents).
const serverRoleTag = "consul"
