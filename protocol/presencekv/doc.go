// Package presencekv owns the byte formats and key names of Heartline's presence data in
// Consul KV, so that the agent (writer), its watcher library and the site (readers) agree on
// them without importing each other:
//
//	<prefix>/config                          Config, JSON, created once per cluster with CAS
//	<prefix>/presence/<bucket>/<gateway-id>  Sessions of one bucket on one gateway (session-bound)
//	<prefix>/lastseen/<bucket>               LastSeen entries of offline users (CAS-merged)
//	<prefix>/changes/<gateway-id>/<lane>     ChangeRecord: the recent flushes of one writer lane
//
// Buckets are 5-digit zero-padded decimals; Bucket maps a user id to its bucket with a fixed,
// seedless 64-bit mix so every process computes the same bucket.
//
// Binary values start with a one-byte magic and a one-byte version, followed by integer
// sequences in the protocol/bitpack codec. Decoders reject short input, trailing bytes and
// counts above fixed caps with typed errors, and never allocate more than the caps allow.
//
// This package holds no sockets, goroutines or process state, and imports nothing from
// gateway/, agent/ or site/.
package presencekv
