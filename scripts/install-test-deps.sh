#!/usr/bin/env bash
# install-test-deps.sh: install what `make test` needs beyond Go modules, idempotently, so a
# fresh machine needs nothing installed by hand: the pinned Consul (built from source and
# cached), Debian's chromium for the site's browser test, a Chinese font for its
# screenshots, and Debian's postgresql for the site's store tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

consul_bin="$(scripts/install-consul.sh)"
echo "test-deps: consul $("$consul_bin" version | head -n1 | awk '{print $2}') at $consul_bin"

# Chromium for the site's end-to-end browser test (site/e2e_test.go drives /usr/bin/chromium
# with chromedp). Debian's package; installed only when missing. CI runs this script as root.
sudo_cmd=()
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
	sudo_cmd=(sudo)
fi
if [ -x /usr/bin/chromium ]; then
	echo "test-deps: chromium already installed: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
else
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "test-deps: ERROR: /usr/bin/chromium is missing and apt-get is not available; install Debian's 'chromium' package by hand" >&2
		exit 1
	fi
	if [ "$(id -u)" -ne 0 ] && [ ${#sudo_cmd[@]} -eq 0 ]; then
		echo "test-deps: ERROR: installing chromium needs root (run this script as root or install sudo)" >&2
		exit 1
	fi
	echo "test-deps: installing chromium (apt-get update, apt-get install -y chromium) ..."
	if ! "${sudo_cmd[@]}" apt-get update; then
		echo "test-deps: ERROR: apt-get update failed; chromium (for the site's browser test) is not installed" >&2
		exit 1
	fi
	if ! DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y --no-install-recommends chromium; then
		echo "test-deps: ERROR: apt-get install chromium failed; the site's browser test cannot run without /usr/bin/chromium" >&2
		exit 1
	fi
	if [ ! -x /usr/bin/chromium ]; then
		echo "test-deps: ERROR: the chromium package installed but /usr/bin/chromium is missing" >&2
		exit 1
	fi
	echo "test-deps: chromium installed: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
fi

# PostgreSQL for the site's store tests (scripts/pgtest starts a throw-away server from
# Debian's package: initdb + postgres, as the "postgres" user when run as root).
pg_found=""
if [ -n "${HEARTLINE_PG_BIN:-}" ] && [ -x "$HEARTLINE_PG_BIN/initdb" ] && [ -x "$HEARTLINE_PG_BIN/postgres" ]; then
	pg_found="$HEARTLINE_PG_BIN"
else
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		if [ -x "$d/initdb" ] && [ -x "$d/postgres" ]; then pg_found="$d"; break; fi
	done
fi
if [ -n "$pg_found" ]; then
	echo "test-deps: postgresql already installed: $pg_found"
else
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "test-deps: ERROR: PostgreSQL (initdb, postgres) is missing and apt-get is not available; install Debian's 'postgresql' package by hand or set HEARTLINE_PG_BIN" >&2
		exit 1
	fi
	if [ "$(id -u)" -ne 0 ] && [ ${#sudo_cmd[@]} -eq 0 ]; then
		echo "test-deps: ERROR: installing postgresql needs root (run this script as root or install sudo)" >&2
		exit 1
	fi
	echo "test-deps: installing postgresql (for the site's store tests) ..."
	if [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v -e '^lock$' -e '^partial$' | head -n1)" ]; then
		"${sudo_cmd[@]}" apt-get update || { echo "test-deps: ERROR: apt-get update failed" >&2; exit 1; }
	fi
	# The package would start a cluster as a service; the tests do not use it, so keep it off.
	if ! DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 "${sudo_cmd[@]}" apt-get install -y --no-install-recommends postgresql; then
		echo "test-deps: ERROR: apt-get install postgresql failed (run apt-get update first?); the site's store tests need it" >&2
		exit 1
	fi
	if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
		echo "test-deps: ERROR: the postgresql package installed but /usr/lib/postgresql/*/bin/initdb is missing" >&2
		exit 1
	fi
	echo "test-deps: postgresql installed: $(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)"
fi

# A CJK font, so the browser test's screenshots of the Chinese pages show text, not boxes.
if command -v fc-list >/dev/null 2>&1 && [ -n "$(fc-list :lang=zh 2>/dev/null | head -n1)" ]; then
	echo "test-deps: a Chinese font is installed"
else
	echo "test-deps: installing fonts-wqy-microhei (Chinese font for screenshots) ..."
	if [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v -e '^lock$' -e '^partial$' | head -n1)" ]; then
		"${sudo_cmd[@]}" apt-get update || { echo "test-deps: ERROR: apt-get update failed" >&2; exit 1; }
	fi
	if ! DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y --no-install-recommends fonts-wqy-microhei; then
		echo "test-deps: ERROR: apt-get install fonts-wqy-microhei failed (run apt-get update first?)" >&2
		exit 1
	fi
fi
