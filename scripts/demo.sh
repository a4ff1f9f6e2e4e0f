#!/usr/bin/env bash
# demo.sh: `make demo`. Builds everything, makes sure the pinned Consul is available (built
# from source on first run, 5-6 minutes), then hands over to the Go orchestrator in
# scripts/demo, which starts Consul, the gateways with their agents, and the probe members,
# and prints a live dashboard. Ctrl-C stops everything and removes the temporary data.
# DEMO_DURATION=30s runs unattended and exits 0 only if presence worked end to end.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf '\033[1mdemo:\033[0m %s\n' "$*"; }

say "step 1/2: Consul (built from source on first run, 5-6 minutes; cached afterwards)"
consul_bin="$(scripts/install-consul.sh)"

say "step 2/2: building heartline binaries into .cache/bin/"
mkdir -p .cache/bin
go build -o .cache/bin/ ./gateway ./agent ./site ./benchmarks/loadgen ./scripts/demo

exec .cache/bin/demo -consul "$consul_bin" -bin .cache/bin "$@"
