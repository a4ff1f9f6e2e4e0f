// Package catalog lists the healthy Heartline gateways from the Consul catalog for the
// site's POST /api/session: service `heartline-gateway` (configurable) with all checks
// passing, addresses from the service address (or the node's) and the meta udp_port /
// tcp_port the agent registers (see agent/consulwriter/service.go).
//
// Results are cached briefly so a burst of logins costs one Consul query.
//
// This package must not touch: HTTP handlers, members, or anything under gateway/ or agent/.
package catalog
