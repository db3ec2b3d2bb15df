#!/usr/bin/env bash
# For every ONNX export under tests/data/onnx/<name>/onnx/: widens the graph to float32
# (tests/data/onnx_reference.py widen, Debian's python3-onnx) and runs it in onnxruntime-node
# (run-reference.mjs), writing <out>/<name>/reference.safetensors for test_model_onnx.
#
# Usage: make-references.sh CACHE_DIR OUT_DIR
# Exit status 77 (CTest's "skipped") when node or python3-onnx is missing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
data="$here/../data"
cache="$1"
out="$2"
runtime="$cache/onnxruntime/node_modules/onnxruntime-node"

# Debian's interpreter: python3-onnx installs there, not into a pyenv or venv one.
python=/usr/bin/python3
[[ -x "$python" ]] || python="$(command -v python3 || true)"
if [[ -z "$python" ]] || ! "$python" -c 'import onnx, numpy' 2>/dev/null; then
    echo "make-references: python3 with the onnx module is missing (apt-get install python3-onnx);" \
         "the ONNX reference tests are skipped" >&2
    exit 77
fi
if ! command -v node >/dev/null 2>&1 || [[ ! -d "$runtime" ]]; then
    echo "make-references: node or $runtime is missing (tests/onnx/fetch-onnxruntime.sh installs it)" >&2
    exit 77
fi

for folder in "$data"/onnx/*/; do
    name="$(basename "$folder")"
    mkdir -p "$out/$name"
    "$python" "$data/onnx_reference.py" widen "$folder/onnx" "$out/$name/model.onnx"
    node "$here/run-reference.mjs" "$runtime" "$out/$name/model.onnx" "$out/$name/reference.safetensors"
done
