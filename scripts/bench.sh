#!/usr/bin/env bash
# bench.sh: what `make bench` runs. Builds the load generator and the servers, runs the
# standard benchmark set (benchmarks/runner; < 15 minutes on a 2-core box), and regenerates
# benchmarks/RESULTS.md and benchmarks/charts/*.svg from benchmarks/out/results.json.
#
#   BENCH_FLAGS="-reps 3 -groups drain,cpu" make bench   # fewer/other cases (see runner -h)
#
# The Redis peer needs redis-server (Debian package redis-server): installed with apt-get
# when missing and this runs as root; otherwise the runner skips that case and says so.
set -euo pipefail
cd "$(dirname "$0")/.."
GO="${GO:-go}"
OUT=benchmarks/out
if ! command -v redis-server >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "bench: installing redis-server (Debian package) for the Redis peer" >&2
		apt-get install -y redis-server >/dev/null 2>&1 || (apt-get update >/dev/null 2>&1 && apt-get install -y redis-server >/dev/null 2>&1) || echo "bench: could not install redis-server; the Redis case will be skipped" >&2
	else
		echo "bench: redis-server missing and not root: the Redis case will be skipped" >&2
	fi
fi
# The Consul vs etcd group (benchmarks/storepeer) needs etcd (Debian package etcd-server).
if ! command -v etcd >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "bench: installing etcd-server (Debian package) for the Consul vs etcd group" >&2
		apt-get install -y etcd-server >/dev/null 2>&1 || (apt-get update >/dev/null 2>&1 && apt-get install -y etcd-server >/dev/null 2>&1) || echo "bench: could not install etcd-server; the Consul vs etcd group will be skipped" >&2
	else
		echo "bench: etcd missing and not root: the Consul vs etcd group will be skipped" >&2
	fi
fi
mkdir -p "$OUT/bin"
"$GO" build -o "$OUT/bin/" ./gateway ./agent ./benchmarks/loadgen ./benchmarks/runner ./benchmarks/presence ./benchmarks/storepeer ./benchmarks/baselines/...
# The consul group (gateway + agent + Consul latencies) needs a Consul binary: cached after
# the first build by scripts/install-consul.sh (that first build takes minutes).
CONSUL_BIN="$(scripts/install-consul.sh 2>/dev/null | tail -1 || true)"
# shellcheck disable=SC2086
"$OUT/bin/runner" -bin "$OUT/bin" -out "$OUT" -consul "$CONSUL_BIN" ${BENCH_FLAGS:-}
# A separate 10M-session memory run (see benchmarks/README.md) is folded into the report
# when its results exist.
RSS_IN="${BENCH_RSS_IN:-}"
if [ -z "$RSS_IN" ] && [ -f "$OUT/rss10m/results.json" ]; then RSS_IN="$OUT/rss10m/results.json"; fi
"$GO" run ./benchmarks/report -in "$OUT/results.json" -rss-in "$RSS_IN" -md benchmarks/RESULTS.md -svg benchmarks/charts
