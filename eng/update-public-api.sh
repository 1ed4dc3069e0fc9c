#!/usr/bin/env bash
# Adds every public symbol the analyzer reports as undeclared (RS0016) to PublicAPI.Unshipped.txt,
# and drops the declared ones that no longer exist (RS0017). Review the diff: it is the API change.
set -euo pipefail
cd "$(dirname "$0")/.."
project=src/RunnerBackends
file=$project/PublicAPI.Unshipped.txt
log=$(mktemp)
dotnet build "$project" -p:TreatWarningsAsErrors=false --no-incremental -clp:NoSummary >"$log" 2>&1 || true
added=$(grep -oE "RS0016: Symbol '.*' is not part of the declared public API" "$log" | sed -E "s/^RS0016: Symbol '(.*)' is not part of the declared public API$/\1/" | sort -u || true)
removed=$(grep -oE "RS0017: Symbol '.*' is part of the declared API, but is either not public or could not be found" "$log" | sed -E "s/^RS0017: Symbol '(.*)' is part of the declared API.*/\1/" | sort -u || true)
{
  echo '#nullable enable'
  { grep -v '^#nullable' "$file" || true; if [ -n "$added" ]; then printf '%s\n' "$added"; fi; } |
    grep -vxF -f <(printf '%s\n' "${removed:-__none__}") | sed '/^$/d' | LC_ALL=C sort -u
} >"$file.new"
mv "$file.new" "$file"
rm -f "$log"
echo "PublicAPI.Unshipped.txt: $(printf '%s' "$added" | grep -c . || true) added, $(printf '%s' "$removed" | grep -c . || true) removed"
