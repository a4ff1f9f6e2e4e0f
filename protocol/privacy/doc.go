// Package privacy holds the shared formats and the one rule of presence privacy: who may
// see a member's presence (Allowed), the grants the site seals for apps and gateways open
// without a database (Grant, Seal, Open), and the per-bucket records the site writes to
// Consul KV so every site and gateway process learns of visibility changes and revocations
// within a second (Record, RecordKey). PROTOCOL.md ("Presence privacy and grants") is the
// specification.
//
// Like the rest of protocol/, it holds no sockets, goroutines or process state: the site
// decides and writes, agent/privacywatch follows the records, the gateway and the site's
// SSE hub enforce.
package privacy
