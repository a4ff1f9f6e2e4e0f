#!/usr/bin/env bash
# install-test-deps.sh: install what `make test` needs beyond Go modules, idempotently, so a
# fresh machine needs nothing installed by hand: the pinned Consul (built from source and
# cached), Debian's chromium for the site's browser test, and a Chinese font for its
# screenshots.
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
