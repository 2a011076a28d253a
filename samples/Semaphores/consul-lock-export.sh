#!/bin/sh
# One export run by Consul's own Go client, in the same semaphore as the .NET instances:
#   consul lock -n 3 semaphores-sample/exports/acme "sh consul-lock-export.sh RECORDS INSTANCE JOB [SECONDS]"
# `consul lock -n 3` holds a permit (an api.Semaphore) while this runs; it records its start and end as the
# instances do, in RECORDS/INSTANCE.jsonl, so the verdict counts it among the exports.
set -eu
records=$1 instance=$2 job=$3 seconds=${4:-1}
mkdir -p "$records"
now() { date -u +%Y-%m-%dT%H:%M:%S.%6NZ; }
record() { printf '{"Kind":"%s","Instance":"%s","Job":%s,"At":"%s"}\n' "$1" "$instance" "$job" "$(now)" >> "$records/$instance.jsonl"; }
record start
echo "[$instance] export $job: running, holding a permit of consul lock -n 3"
sleep "$seconds"
record end
