#!/usr/bin/env bash
# install-consul.sh: make a Consul binary of the pinned version available and print its path.
#
# Consul is BUSL-1.1: Heartline never links or ships it. This script builds it from source
# (fetched through the Go module proxy) so tests and the demo can run a real Consul.
#
# Order of preference:
#   1. a `consul` on PATH that reports the pinned version;
#   2. the cached binary in $HEARTLINE_CACHE/consul/<version>/consul (default: <repo>/.cache);
#   3. a fresh build (5-6 minutes the first time on a 2-core machine), then cached.
#
# The last line of standard output is the binary's absolute path; progress goes to stderr.
set -euo pipefail

CONSUL_VERSION="${CONSUL_VERSION:-1.21.0}"
# Consul's go.mod replaces its nested modules with local paths, which do not exist in the
# module zip. These are the published versions its go.mod pins; we drop the replaces.
NESTED_MODULES=(
  "github.com/hashicorp/consul/api@v1.31.2"
  "github.com/hashicorp/consul/sdk@v0.16.1"
  "github.com/hashicorp/consul/proto-public@v0.6.2"
  "github.com/hashicorp/consul/envoyextensions@v0.7.3"
  "github.com/hashicorp/consul/troubleshoot@v0.7.1"
)

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache_root="${HEARTLINE_CACHE:-$repo_root/.cache}"
cache_dir="$cache_root/consul/$CONSUL_VERSION"
cached_bin="$cache_dir/consul"

log() { printf 'install-consul: %s\n' "$*" >&2; }
fail() { printf 'install-consul: ERROR: %s\n' "$*" >&2; exit 1; }

version_of() { "$1" version 2>/dev/null | head -n1 | sed -n 's/^Consul v\([0-9.]*\).*/\1/p'; }

if on_path="$(command -v consul 2>/dev/null)"; then
  if [ "$(version_of "$on_path")" = "$CONSUL_VERSION" ]; then
    log "using consul $CONSUL_VERSION on PATH: $on_path"
    echo "$on_path"; exit 0
  fi
  log "ignoring $on_path: it is not v$CONSUL_VERSION"
fi

if [ -x "$cached_bin" ] && [ "$(version_of "$cached_bin")" = "$CONSUL_VERSION" ]; then
  log "using cached $cached_bin"
  echo "$cached_bin"; exit 0
fi

command -v go >/dev/null || fail "go is not on PATH; install Go 1.26 first"

# One build at a time: concurrent `make test` runs wait for each other here.
mkdir -p "$cache_dir"
exec 9>"$cache_dir/.lock"
if command -v flock >/dev/null; then flock 9; fi
if [ -x "$cached_bin" ] && [ "$(version_of "$cached_bin")" = "$CONSUL_VERSION" ]; then
  echo "$cached_bin"; exit 0
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/heartline-consul-build.XXXXXX")"
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT

log "[1/4] fetching github.com/hashicorp/consul@v$CONSUL_VERSION source from the Go module proxy"
src="$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "github.com/hashicorp/consul@v$CONSUL_VERSION" \
  | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[ -n "$src" ] && [ -d "$src" ] || fail "could not download consul v$CONSUL_VERSION; check GOPROXY and network access to the module proxy"
cp -r "$src" "$work/consul"
chmod -R u+w "$work/consul"
cd "$work/consul"

log "[2/4] dropping the nested-module replace directives and pinning published versions"
for m in "${NESTED_MODULES[@]}"; do
  go mod edit -dropreplace="${m%@*}" -require="$m"
done

log "[3/4] resolving dependencies (first time: a few hundred modules)"
GOFLAGS=-mod=mod go mod download 2>&1 | tail -n 5 >&2 || fail "dependency download failed"
GOFLAGS=-mod=mod go list -deps . >/dev/null 2>"$work/list.err" || { cat "$work/list.err" >&2; fail "dependency resolution failed"; }

log "[4/4] compiling consul (5-6 minutes the first time on 2 cores; later builds are cached by Go)"
start=$(date +%s)
( while sleep 30; do log "  still compiling... $(( $(date +%s) - start ))s"; done ) &
ticker=$!
if ! GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -o "$work/consul.bin" \
     -ldflags "-X github.com/hashicorp/consul/version.GitCommit=heartline-build -X github.com/hashicorp/consul/version.Version=$CONSUL_VERSION -X github.com/hashicorp/consul/version.VersionPrerelease=" . ; then
  kill "$ticker" 2>/dev/null || true
  fail "go build of consul failed (see above)"
fi
kill "$ticker" 2>/dev/null || true
mv "$work/consul.bin" "$cached_bin"
got="$(version_of "$cached_bin")"
[ "$got" = "$CONSUL_VERSION" ] || fail "built binary reports version '$got', want $CONSUL_VERSION"
log "built consul $got in $(( $(date +%s) - start ))s: $cached_bin"
echo "$cached_bin"
