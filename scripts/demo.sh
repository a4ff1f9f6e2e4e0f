#!/usr/bin/env bash
# demo.sh: `make demo`. Builds everything, starts a local Consul and the Heartline
# processes that exist, and shows presence working. Ctrl-C stops everything it started
# and removes its temporary data. With DEMO_DURATION (e.g. 30s) it runs unattended,
# prints a summary and exits 0 only if every check passed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"

say() { printf '\033[1mdemo:\033[0m %s\n' "$*"; }
die() { printf 'demo: ERROR: %s\n' "$*" >&2; exit 1; }

duration="${DEMO_DURATION:-}"
workdir="$(mktemp -d "${TMPDIR:-/tmp}/heartline-demo.XXXXXX")"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$workdir"
  say "stopped everything and removed $workdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()' 2>/dev/null || echo $((20000 + RANDOM % 20000)); }

say "step 1/3: Consul (built from source on first run, 5-6 minutes; cached afterwards)"
consul_bin="$(scripts/install-consul.sh)"

say "step 2/3: building heartline binaries"
mkdir -p bin
go build -o bin/ ./gateway ./agent ./site

say "step 3/3: starting a local Consul server"
http_port="$(free_port)"
cat > "$workdir/consul.json" <<JSON
{
  "node_name": "demo", "datacenter": "dc1", "data_dir": "$workdir/consul-data",
  "server": true, "bootstrap_expect": 1,
  "bind_addr": "127.0.0.1", "advertise_addr": "127.0.0.1", "client_addr": "127.0.0.1",
  "ports": {"http": $http_port, "dns": -1, "grpc": -1, "grpc_tls": -1,
            "serf_lan": $(free_port), "serf_wan": $(free_port), "server": $(free_port)},
  "performance": {"raft_multiplier": 1}, "disable_update_check": true,
  "ui_config": {"enabled": true}, "log_level": "warn"
}
JSON
"$consul_bin" agent -config-file "$workdir/consul.json" >"$workdir/consul.log" 2>&1 &
pids+=($!)
export CONSUL_HTTP_ADDR="127.0.0.1:$http_port"

leader=""
for _ in $(seq 1 150); do
  leader="$(curl -fsS "http://$CONSUL_HTTP_ADDR/v1/status/leader" 2>/dev/null | tr -d '"')" || true
  [ -n "$leader" ] && break
  sleep 0.2
done
[ -n "$leader" ] || { tail -20 "$workdir/consul.log" >&2; die "Consul did not elect a leader in 30s"; }

checks_ok=0; checks_total=0
check() { # check NAME CMD...
  checks_total=$((checks_total + 1))
  if "${@:2}" >/dev/null 2>&1; then checks_ok=$((checks_ok + 1)); say "  ok   $1"; else say "  FAIL $1"; fi
}
check "Consul leader elected ($leader)" test -n "$leader"
check "Consul KV write/read" bash -c "curl -fsS -X PUT -d demo http://$CONSUL_HTTP_ADDR/v1/kv/heartline-demo/ping && [ \"\$(curl -fsS http://$CONSUL_HTTP_ADDR/v1/kv/heartline-demo/ping?raw)\" = demo ]"

say "Consul is up: http://$CONSUL_HTTP_ADDR/ui  (members: $("$consul_bin" members -http-addr="$CONSUL_HTTP_ADDR" 2>/dev/null | tail -n +2 | wc -l))"
say "gateway, agent and site join this demo as their issues land."

if [ -n "$duration" ]; then
  sleep "${duration%s}" 2>/dev/null || sleep 1
  say "summary: $checks_ok/$checks_total checks passed"
  [ "$checks_ok" -eq "$checks_total" ]
else
  say "running; press Ctrl-C to stop"
  while true; do sleep 3600; done
fi
