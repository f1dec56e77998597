#!/bin/sh
# kubefx's one entry point on a fresh machine. It brings its own Node and pnpm from the npm
# registry (the machine's Node 20 is too old for @kubernetes/client-node 2 and undici 8),
# installs the workspace, then runs a task:
#
#   demo   start the local control plane (or use --kubeconfig/--context) and run the example
#   test   formatter + linter check, type check, the docs' examples, every test (unit, integration)
#   check  formatter + linter check, type check and the docs' examples only
#   bench  the benchmarks: Kopf, kubefx and a bare client on the local control plane (bench/)
#   *      anything else is passed to pnpm, with the right Node first on PATH
#
# Caches live outside the clone (~/.cache/kubefx, or $KUBEFX_CACHE) so that runs reuse them.
set -eu

NODE_VERSION=24.21.0
PNPM_VERSION=12.21.0

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${KUBEFX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubefx}
tools="$cache/toolchain/node$NODE_VERSION-pnpm$PNPM_VERSION"

if [ ! -x "$tools/node_modules/.bin/node" ] || [ ! -x "$tools/node_modules/.bin/pnpm" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "kubefx: npm is needed once to fetch Node $NODE_VERSION and pnpm $PNPM_VERSION; install Node.js (any version >= 18) with npm first." >&2
    exit 1
  fi
  echo "kubefx: installing Node $NODE_VERSION and pnpm $PNPM_VERSION from the npm registry into $tools (once)..."
  mkdir -p "$tools"
  [ -f "$tools/package.json" ] || echo '{"private":true}' >"$tools/package.json"
  npm install --prefix "$tools" --no-audit --no-fund --loglevel=error "node@$NODE_VERSION" "pnpm@$PNPM_VERSION"
fi
PATH="$tools/node_modules/.bin:$PATH"
export PATH KUBEFX_CACHE="$cache"
cd "$root"

echo "kubefx: node $(node --version), pnpm $(pnpm --version); installing workspace dependencies..."
pnpm install --frozen-lockfile

task=${1:-help}
[ $# -gt 0 ] && shift
case "$task" in
  demo)
    exec node examples/evc/src/demo.ts "$@"
    ;;
  check)
    pnpm exec biome ci .
    pnpm exec tsc -b
    node scripts/check-examples.ts
    ;;
  bench)
    exec pnpm --filter @kubefx/bench start "$@"
    ;;
  test)
    echo "kubefx: formatter and linter (biome)..."
    pnpm exec biome ci .
    echo "kubefx: type check (tsc -b: every package's project, in dependency order)..."
    pnpm exec tsc -b
    echo "kubefx: the examples of the JSDoc comments and READMEs (scripts/check-examples.ts)..."
    node scripts/check-examples.ts
    echo "kubefx: tests (vitest: unit, then integration against a real control plane)..."
    exec pnpm exec vitest run "$@"
    ;;
  help | -h | --help)
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
    ;;
  *)
    exec pnpm "$task" "$@"
    ;;
esac
