// Command opsdoc keeps the operations guides honest: it builds the gateway, agent and site
// binaries, reads their -h output, and rewrites the flag tables between
// "<!-- flags:NAME begin -->" and "<!-- flags:NAME end -->" markers in
// gateway/OPERATIONS.md and agent/OPERATIONS.md.
//
//	go run ./scripts/opsdoc          # regenerate the tables
//	go test ./scripts/opsdoc         # fail when a table is stale or a flag is undocumented
//
// The test also checks that every loadgen flag is named in benchmarks/README.md, and
// (acl_test.go) that the Consul ACL policies printed in agent/OPERATIONS.md are enough for
// the real agent, gateway and site against a real Consul with default-deny ACLs, and that
// the metrics the guides name are the ones the running processes export. apps_test.go checks
// that every Go excerpt in protocol/APPS.md is taken from protocol/client/example_test.go.
//
// It owns only the generated tables; the prose around them is edited by hand. It must not
// import the processes' packages (they are main packages): it reads what the binaries say.
package main
