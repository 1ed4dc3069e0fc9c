#!/usr/bin/env bash
# Runs every test of the repository on this machine: the library's unit and integration tests (a real Docker
# engine, real child processes, the tart simulator), then packs the library and tests the sample host against
# the package it just packed. Ends with one line: "N passed, N failed, N skipped".
#   eng/test.sh                 # everything
#   eng/test.sh --no-setup      # skip installing/starting Docker (you manage the engine)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

setup=1
for arg in "$@"; do
  case "$arg" in
    --no-setup) setup=0 ;;
    *) echo "unknown option: $arg" >&2; exit 64 ;;
  esac
done
[ "$setup" = 1 ] && eng/setup-machine.sh

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
config=Release
logdir=$root/artifacts/test-logs
rm -rf "$logdir"; mkdir -p "$logdir"
status=0
passed=0; failed=0; skipped=0

count() { # sums the counters of the TRX files of one run
  local dir=$1 trx counters
  for trx in "$dir"/*.trx; do
    [ -f "$trx" ] || continue
    counters=$(grep -oE '<Counters [^>]*>' "$trx" | head -n 1)
    attr() { printf '%s' "$counters" | grep -oE " $1=\"[0-9]+\"" | grep -oE '[0-9]+' || echo 0; }
    passed=$((passed + $(attr passed))); failed=$((failed + $(attr failed) + $(attr error) + $(attr timeout) + $(attr aborted)))
    # Skipped tests are counted in total but not in executed (notExecuted stays 0 for them).
    skipped=$((skipped + $(attr total) - $(attr executed)))
  done
}

run_tests() { # name, then dotnet test arguments
  local name=$1; shift
  local log=$logdir/$name.log
  echo "== $name"
  set +e
  dotnet test "$@" -c "$config" --blame-hang-timeout 5m --blame-hang-dump-type none --logger "trx;LogFilePrefix=$name" \
    --logger "console;verbosity=normal" --results-directory "$logdir/$name" >"$log" 2>&1
  local rc=$?
  set -e
  # Failures and skips with their reasons, then the run's summary.
  grep -E '^\s+Failed |^\s+(Error Message|Stack Trace):|^\s{5,}\S|^(Passed|Failed)!|Total tests|^\s+(Passed|Failed|Skipped): |error [A-Z]+[0-9]+|Test Run' "$log" | grep -vE '^\s+Passed ' | head -n 400 || true
  # Skipped tests with their reasons (the TRX keeps the reason as the result's message).
  awk '/outcome="NotExecuted"/ { match($0, /testName="[^"]*"/); name = substr($0, RSTART + 10, RLENGTH - 11); want = 1; next }
       want && /<Message>/ { sub(/.*<Message>/, ""); sub(/<\/Message>.*/, ""); print "  skipped " name ": " $0; want = 0 }' \
    "$logdir/$name"/*.trx 2>/dev/null || true
  local failed_before=$failed
  count "$logdir/$name"
  if [ "$rc" -ne 0 ] || ! ls "$logdir/$name"/*.trx >/dev/null 2>&1; then
    echo "$name: dotnet test exited with $rc"
    status=1
    # A crashed or aborted run (or a build error) counts as a failure even when no test reported one.
    [ "$failed" -gt "$failed_before" ] || failed=$((failed + 1))
  fi
}

echo "== build"
dotnet build RunnerBackends.sln -c "$config" 2>&1 | tee "$logdir/build.log" | grep -E 'error|warning|Build succeeded' || true
[ "${PIPESTATUS[0]}" -eq 0 ] || { echo "build failed"; echo "0 passed, 1 failed, 0 skipped"; exit 1; }

run_tests unit tests/RunnerBackends.Tests --no-build
run_tests integration tests/RunnerBackends.IntegrationTests --no-build

if [ -f samples/RunnerHost.Tests/RunnerHost.Tests.csproj ]; then
  version="0.1.0-local.$(date +%Y%m%d%H%M%S)"
  echo "== pack $version"
  dotnet pack src/RunnerBackends -c "$config" -o artifacts/packages -p:Version="$version" 2>&1 | tee "$logdir/pack.log" | grep -E 'error|warning|Successfully created' || true
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  run_tests sample samples/RunnerHost.Tests -p:RunnerBackendsVersion="$version"
fi

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] || status=1
exit "$status"
