#!/usr/bin/env bash
# Installs the test-only reference engine onnxruntime-node (CPU), pinned by package-lock.json, into a
# cache folder OUTSIDE the source tree: <cache>/onnxruntime/node_modules/onnxruntime-node.
# --ignore-scripts: the package's install script downloads GPU providers from a host these machines
# cannot reach; the CPU runtime ships in the npm tarball and works without it.
#
# Usage: fetch-onnxruntime.sh [CACHE_DIR]
#   CACHE_DIR defaults to $SP_ONNX_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/softprompt-workbench/npm.
# Exit status 77 (CTest's "skipped") when node or npm is missing; any other failure is an error.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${1:-${SP_ONNX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/softprompt-workbench/npm}}"
target="$cache/onnxruntime"

for tool in node npm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "fetch-onnxruntime: '$tool' is not installed; the ONNX reference tests are skipped" \
             "(install Node.js 18+ with npm to run them)" >&2
        exit 77
    fi
done

mkdir -p "$target"
if [[ -f "$target/node_modules/onnxruntime-node/package.json" ]] &&
   cmp -s "$here/package-lock.json" "$target/package-lock.json"; then
    echo "fetch-onnxruntime: $target is up to date" >&2
    exit 0
fi
cp "$here/package.json" "$here/package-lock.json" "$target/"
echo "fetch-onnxruntime: npm ci --ignore-scripts in $target" >&2
(cd "$target" && npm ci --ignore-scripts --no-audit --no-fund --silent)
node -e 'require(process.argv[1])' "$target/node_modules/onnxruntime-node" || {
    echo "fetch-onnxruntime: onnxruntime-node does not load on this machine" >&2
    exit 1
}
