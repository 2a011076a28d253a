#!/usr/bin/env bash
# Makes a `consul` binary available and prints its absolute path on stdout (progress goes to stderr).
#
# Looks, in order, at: $CONSUL_BIN, a `consul` on PATH, the cached copy under .cache/consul/ (git ignores it),
# and else fetches Consul 1.8.7 from Debian's bullseye archive (a static binary that runs on any x86-64 Linux)
# with a private apt configuration, so the system's own package sources are left as they are.
# Idempotent: when the binary is already there it returns at once.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache="$root/.cache/consul"
cached_bin="$cache/bin/consul"

say() { echo "ensure-consul: $*" >&2; }
works() { [ -x "$1" ] && "$1" version >/dev/null 2>&1; }

if [ -n "${CONSUL_BIN:-}" ]; then
  if works "$CONSUL_BIN"; then echo "$CONSUL_BIN"; exit 0; fi
  say "CONSUL_BIN is set to '$CONSUL_BIN', but that is not a working consul binary."
  exit 1
fi

if on_path=$(command -v consul 2>/dev/null) && works "$on_path"; then
  echo "$on_path"; exit 0
fi

if works "$cached_bin"; then
  echo "$cached_bin"; exit 0
fi

if [ "$(uname -s)" != "Linux" ] || [ "$(uname -m)" != "x86_64" ] || ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg >/dev/null 2>&1; then
  say "no consul binary found, and this is not a Debian-like x86-64 Linux where it can fetch one."
  say "Install Consul (1.8 or newer) from https://developer.hashicorp.com/consul/install and put it on PATH,"
  say "or point CONSUL_BIN at the binary, then run this again."
  exit 1
fi

say "fetching Consul from Debian's bullseye archive (once; cached in .cache/consul)..."
work="$cache/apt"
rm -rf "$work"
mkdir -p "$work/lists/partial" "$work/archives/partial" "$work/extract" "$cache/bin"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bullseye main" >"$work/sources.list"
apt_opts=(
  -q
  -o "Dir::Etc::SourceList=$work/sources.list"
  -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::State::Lists=$work/lists"
  -o "Dir::Cache=$work"
  -o "Dir::Cache::archives=$work/archives"
  -o "APT::Sandbox::User=$(id -un)"
)
if [ ! -f /usr/share/keyrings/debian-archive-keyring.gpg ]; then
  say "Debian's archive keyring is missing (package debian-archive-keyring); cannot verify the download."
  exit 1
fi
apt-get "${apt_opts[@]}" update >&2
(cd "$work" && apt-get "${apt_opts[@]}" download consul >&2)
deb=$(ls "$work"/consul_*.deb)
dpkg -x "$deb" "$work/extract"
install -m 0755 "$work/extract/usr/bin/consul" "$cached_bin"
rm -rf "$work"

if ! works "$cached_bin"; then
  say "the fetched consul binary does not run."
  exit 1
fi
say "installed $("$cached_bin" version | head -n 1) at $cached_bin"
echo "$cached_bin"
