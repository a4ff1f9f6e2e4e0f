// Command storepeer measures the agent's presence write shape against two stores in the
// same run: a single durable Consul server and a single durable etcd server (the seed's
// section 2.5, "Consul vs etcd"). It starts both on free loopback ports with temporary
// data directories, writes presence bucket values (encoded with protocol/presencekv, so
// sizes are realistic) bound to a Consul session or an etcd lease, in transactions of up
// to -ops operations and, for the batching factor, one operation per transaction. It
// reports ops/s, transactions/s, transaction latency p50/p99 (HdrHistogram), bytes on the
// wire per op (counted on the client's TCP connections, both directions) and how long
// each store takes to delete the keys once the session/lease is no longer renewed.
//
// It owns only its own processes and temp directories; it does not touch the agent or
// gateway and writes nothing outside -out and its temp dir.
package main
