#!/usr/bin/env bash
# Runs the webhook-receiver demo (samples/WebhookReceiver): makes Consul available (eng/ensure-consul.sh), builds,
# and runs it: three receiver processes, 200 events delivered at least once, two lost locks. The demo starts its own
# Consul agent unless CONSUL_HTTP_ADDR names a running one, prints its verdict and the path of its HTML timeline
# (artifacts/demo/webhook-demo.html), and exits non-zero when the verdict fails. DEMO_SEED=N repeats a run's order.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1

eng/ensure-consul.sh >/dev/null
dotnet build samples/WebhookReceiver/WebhookReceiver.csproj -c Release -v q -clp:NoSummary
exec dotnet samples/WebhookReceiver/bin/Release/net10.0/WebhookReceiver.dll
