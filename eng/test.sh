#!/usr/bin/env bash
# Runs every test of the solution: makes Consul available (eng/ensure-consul.sh), restores, builds and runs the
# tests, then makes sure no Consul agent started by this run is left behind, whatever the outcome.
# Prints a closing line "tests: N passed, N failed, N skipped" and exits non-zero when anything failed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

CONSUL_BIN=$(eng/ensure-consul.sh)
export CONSUL_BIN
# Every agent the test fixtures start carries this id in its command line, so the sweep below finds stragglers.
CONSULLOCK_TEST_RUN_ID="clt-$$-$(date +%s)"
export CONSULLOCK_TEST_RUN_ID
export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1

results="$root/artifacts/test-results"
rm -rf "$results"
mkdir -p "$results"

sweep() {
  pkill -f -- "$CONSULLOCK_TEST_RUN_ID" 2>/dev/null || true
}
trap sweep EXIT

dotnet build ConsulLock.Aop.sln -c Release -v q -clp:NoSummary

status=0
dotnet test ConsulLock.Aop.sln -c Release --no-build \
  --logger "trx" --logger "console;verbosity=normal" --results-directory "$results" \
  -- RunConfiguration.TreatNoTestsAsError=true || status=$?

# Sum the per-assembly counts of the TRX files into one closing line.
passed=0; failed=0; skipped=0
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)
  p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters"); f=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")
  n=$(sed -n 's/.* notExecuted="\([0-9]*\)".*/\1/p' <<<"$counters")
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); skipped=$((skipped + ${n:-0}))
done
sweep
if pgrep -f -- "$CONSULLOCK_TEST_RUN_ID" >/dev/null 2>&1; then
  echo "test.sh: a Consul agent of this run survived the sweep" >&2
  status=1
fi
if [ "$passed" -eq 0 ]; then
  echo "test.sh: no test ran" >&2
  status=1
fi
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit "$status"
