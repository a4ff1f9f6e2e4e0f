#!/usr/bin/env bash
# chaos.sh: build the processes and run the chaos bed (scripts/chaos); `make chaos` calls it.
# Needs root (Linux network namespaces). Extra arguments go to the chaos command
# (e.g. `scripts/chaos.sh -only gateway-kill9 -sessions 20000`; see `go run ./scripts/chaos -h`).
# Writes scripts/chaos/REPORT.md; logs of the run stay in the directory it prints.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

if [[ $(id -u) -ne 0 ]]; then
  echo "chaos: needs root for network namespaces: run it as root (sudo make chaos)" >&2
  exit 2
fi
if ! command -v ip >/dev/null 2>&1; then
  echo "chaos: installing iproute2 (ip netns, veth, bridge)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 >&2
fi

consul_bin="$(scripts/install-consul.sh | tail -n1)"
out="${HEARTLINE_CHAOS_DIR:-$(mktemp -d /tmp/heartline-chaos-XXXXXX)}"
mkdir -p "$out/bin"
go build -o "$out/bin/" ./gateway ./agent ./scripts/chaos
echo "chaos: work directory $out" >&2
exec "$out/bin/chaos" -dir "$out" -consul "$consul_bin" -gateway "$out/bin/gateway" -agent "$out/bin/agent" \
  -report scripts/chaos/REPORT.md "$@"
