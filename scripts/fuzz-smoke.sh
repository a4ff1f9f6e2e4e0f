#!/usr/bin/env bash
# fuzz-smoke.sh: run every Go fuzz target in the module for a short budget each (FUZZTIME,
# default 100000x: an execution count, not a duration — with a duration the fuzzing engine
# sometimes fails at the deadline with "context deadline exceeded" and no input on a busy
# 2-core machine; with a count there is no deadline). `go test` already runs each target's
# seed corpus as a plain test; this adds a little coverage-guided exploration so a decoder
# that panics on simple mutations fails CI.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
FUZZTIME="${FUZZTIME:-100000x}"

count=0
while IFS= read -r file; do
  pkg="./$(dirname "$file")"
  for target in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)\(' "$file" | sed -E 's/^func (Fuzz[A-Za-z0-9_]+)\(/\1/'); do
    echo "fuzz-smoke: $pkg $target ($FUZZTIME)"
    for attempt in 1 2; do
      if go test -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZTIME" "$pkg" >/tmp/fuzz-smoke.$$ 2>&1; then
        break
      fi
      # A real failure always writes its input under testdata/fuzz. The fuzzing engine can
      # also give up on a slow worker at the deadline ("context deadline exceeded") with no
      # input: that says nothing about the code, so it gets one more try.
      if [ "$attempt" = 1 ] && ! grep -q 'Failing input written' /tmp/fuzz-smoke.$$ && grep -q 'context deadline exceeded' /tmp/fuzz-smoke.$$; then
        echo "fuzz-smoke: $target: fuzzing engine timed out a worker without a failing input; retrying once"
        continue
      fi
      cat /tmp/fuzz-smoke.$$; rm -f /tmp/fuzz-smoke.$$
      echo "fuzz-smoke: $target in $pkg FAILED (the failing input is saved under $pkg/testdata/fuzz/$target)"
      exit 1
    done
    count=$((count + 1))
  done
done < <(git ls-files '*_test.go' | xargs grep -l '^func Fuzz' 2>/dev/null || true)
rm -f /tmp/fuzz-smoke.$$
echo "fuzz-smoke: $count targets passed"
