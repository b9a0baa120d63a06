#!/usr/bin/env bash
# One entry point for a fresh clone: puts Node 24 on PATH (installing it if the machine's node is
# older than 22), installs the workspace's dependencies when needed, then runs an npm script.
#   tools/run.sh demo [-- --rate 5000]   run the demo pipeline on the embedded transport
#   tools/run.sh test                    run the whole test suite (starts the services it needs)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if [ $# -eq 0 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
  sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi

# Node trusts only its own CA bundle; where the machine's bundle holds more (a proxy's CA), npm needs it too.
if [ -z "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
fi

eval "$(tools/toolchain/install-node.sh --env)"
echo "using node $(node --version) from $(command -v node)" >&2

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "installing dependencies (npm ci)…" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi

script="$1"
shift
exec npm run --silent "$script" -- "$@"
