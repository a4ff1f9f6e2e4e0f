#!/usr/bin/env bash
# install-test-deps.sh: install what `make test` needs beyond Go modules, idempotently.
# Today: the pinned Consul (built from source, cached). Later issues add Debian packages
# (chromium for the browser test) here, so a fresh machine needs nothing installed by hand.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

consul_bin="$(scripts/install-consul.sh)"
echo "test-deps: consul $("$consul_bin" version | head -n1 | awk '{print $2}') at $consul_bin"
