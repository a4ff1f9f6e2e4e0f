// Package consulrejoin nudges the host's Consul client agent back into the cluster after a
// network partition heals.
//
// During a partition the local Consul agent marks the servers failed, and serf retries
// failed members only every 30 s (its ReconnectInterval is hard-coded; Consul does not
// expose it: hashicorp/consul#10220). Until then the local agent answers "No known Consul
// servers" and the agent can neither renew its session nor write presence (chaos issue 7).
// A Rejoiner reads the local agent's LAN members (GET /v1/agent/members) every few seconds
// and asks the local agent to join (PUT /v1/agent/join/<addr>) the servers it lists as
// failed — and, when no server is alive at all, the addresses it was configured with.
//
// It owns only that loop: which members to join, when (polling cadence, jittered backoff of
// failed joins, at most one failing join per round), its logs and its join counter. It must
// not touch the Consul session, KV, service registration or anything of the writer: it only
// reads members and asks for joins on the local agent. Members that left (serf status left or
// leaving) are never rejoined: a graceful leave is an operator's decision.
package consulrejoin
