#!/usr/bin/env bash
# Adds every public symbol the PublicApiAnalyzers report as undeclared (RS0016) to
# src/Runtime/PublicAPI.Unshipped.txt, and drops the lines they report as gone (RS0017).
# Run it after a deliberate change of the public API, then read the diff of the file: it is the API change.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
project="$root/src/Runtime/ConsulLock.Aop.csproj"
unshipped="$root/src/Runtime/PublicAPI.Unshipped.txt"
log=$(mktemp)
trap 'rm -f "$log"' EXIT

dotnet build "$project" -f net10.0 --no-incremental -v q -clp:NoSummary >"$log" 2>&1 || true

added=$(grep -oP "error RS0016: Symbol '\K.*(?=' is not part of the declared public API)" "$log" | sort -u || true)
removed=$(grep -oP "error RS0017: Symbol '\K.*(?=' is part of the declared API, but is either not public or could not be found)" "$log" | sort -u || true)

body=$(grep -v '^#nullable enable$' "$unshipped" || true)
if [ -n "$removed" ]; then
  body=$(printf '%s\n' "$body" | grep -vxF -f <(printf '%s\n' "$removed") || true)
fi
{ echo '#nullable enable'; printf '%s\n%s\n' "$body" "$added" | grep -v '^$' | LC_ALL=C sort -u; } >"$unshipped"

echo "public API: $(printf '%s' "$added" | grep -c . || true) added, $(printf '%s' "$removed" | grep -c . || true) removed"
