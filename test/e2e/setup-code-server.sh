#!/usr/bin/env bash
# Makes node_modules/code-server runnable without its postinstall (npm here skips dependency install
# scripts, and code-server's own would download ripgrep and build native modules): the "shorter
# route" of shared/E2E.md. Idempotent and quick when already done; downloads only from the npm
# registry. Needs Debian's ripgrep (/usr/bin/rg), g++ and make (argon2 falls back to a source build).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
CS=node_modules/code-server
VS=$CS/lib/vscode
[ -d "$CS" ] || { echo "code-server is not installed: run npm ci" >&2; exit 1; }
export npm_config_yes=true npm_config_fund=false npm_config_audit=false
# node-gyp: use the installed Node's headers (Debian's nodejs-dev) instead of downloading them.
[ -f /usr/include/node/node.h ] && export npm_config_nodedir=/usr

# Runs a command in a folder with its output kept back, shown only if it fails.
quiet() {
  local dir=$1 out; shift
  out=$(mktemp)
  if ! (cd "$dir" && "$@") >"$out" 2>&1; then cat "$out" >&2; rm -f "$out"; echo "setup-code-server: failed in $dir: $*" >&2; exit 1; fi
  rm -f "$out"
}

# 1. argon2's native module (code-server requires it at start even with --auth none).
dir=node_modules/argon2; [ -d "$CS/node_modules/argon2" ] && dir=$CS/node_modules/argon2
if [ -z "$(find "$dir" -name argon2.node -print -quit)" ]; then
  echo "setup-code-server: building argon2"
  # "rebuild" compiles from source (argon2's own "install" would first try a GitHub download).
  quiet "$dir" "$ROOT/node_modules/.bin/node-pre-gyp" rebuild
fi

# 2. VS Code's own runtime modules and those of its built-in extensions (no scripts: none is
#    needed for an extension host on Linux; native ones that matter are handled here).
for d in "$VS" "$VS/extensions"; do
  if [ ! -f "$d/node_modules/.package-lock.json" ]; then
    echo "setup-code-server: npm install in $d"
    quiet "$d" npm i --omit=dev --ignore-scripts --no-audit --no-fund
  fi
done

# 3. Native modules the extension host loads: spdlog writes VS Code's log files (without it every
#    LogOutputChannel, ours included, stays empty); native-watchdog ends an orphaned host.
for m in @vscode/spdlog native-watchdog; do
  dir=$VS/node_modules/$m
  if [ -z "$(find "$dir/build" -name '*.node' -print -quit 2>/dev/null)" ]; then
    echo "setup-code-server: building $m"
    quiet "$dir" npx --yes node-gyp rebuild -j max
  fi
done

# 4. VS Code looks for some modules in node_modules.asar (a packed archive in releases).
[ -L "$VS/node_modules.asar" ] || ln -sfn node_modules "$VS/node_modules.asar"

# 5. ripgrep: @vscode/ripgrep downloads rg from the internet in its postinstall; use Debian's.
rg_dest=$VS/node_modules/@vscode/ripgrep/bin/rg
if [ ! -x "$rg_dest" ]; then
  command -v rg >/dev/null || { echo "ripgrep is missing: apt-get install ripgrep" >&2; exit 1; }
  mkdir -p "$(dirname "$rg_dest")" && cp "$(command -v rg)" "$rg_dest"
fi
echo "setup-code-server: ready ($(node -p "require('./$CS/package.json').version"))"
