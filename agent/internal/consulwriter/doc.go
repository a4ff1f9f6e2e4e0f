// Package consulwriter turns one gateway's presence (agent/state) into Consul state:
//
//   - config.go:   the cluster's bucket count at <prefix>/config, created once with CAS;
//   - service.go:  registration of the gateway as a Consul service with an HTTP check;
//   - session.go:  the gateway's Consul session (TTL, Behavior=delete, serfHealth + the
//     service check), renewed at TTL/3 and recreated when Consul invalidates it (a renew's
//     "not found" is confirmed by a consistent read first; the replaced session, and any
//     earlier session of ours on this node that still holds one of our keys, are destroyed);
//   - owner.go:    who owns the gateway id: a live session of our name on another Consul
//     node is another agent's, never destroyed; the younger agent refuses to run
//     (ErrGatewayIDHeld);
//   - writer.go:   the flush loop and the writer lanes; lane.go builds and commits the
//     transactions (lock/delete bucket keys under the session and the lane's change record;
//     then, in separate transactions so their CAS contention never delays presence, the
//     CAS-merged last-seen keys), at most 128 ops and under the Txn size limit each;
//   - lastseen_sweep.go: the periodic sweep that drops last-seen entries past the retention
//     from buckets nobody writes any more;
//   - oversize.go: values too large for Consul (a presence bucket is refused and counted,
//     a last-seen bucket loses its oldest entries), never retried for ever.
//
// Consul's session TTL is a lower bound: Consul may take up to 2×TTL to invalidate a
// session whose owner died, so a dead gateway's presence lingers at most about 2×TTL
// (30 s with the default 15 s TTL).
//
// This package must not read the gateway's feed or serve HTTP; it only writes what the
// state table holds.
package consulwriter
