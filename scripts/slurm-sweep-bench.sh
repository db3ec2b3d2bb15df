#!/usr/bin/env bash
# Wall time of one sweep grid run serially on this machine (`softprompt sweep --grid`) and as a
# Slurm job array on the single-node cluster of scripts/slurm-localhost.sh (`--slurm --wait`, from
# submission to the merge job's end), back to back. Prints one JSON object.
#
#   scripts/slurm-sweep-bench.sh [SOFTPROMPT] [STEPS] [POINTS: 6]
# Needs root and the Slurm packages (scripts/setup.sh). Starts and stops its own cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
softprompt=${1:-build/release/app/softprompt}
steps=${2:-30}
examples=$PWD/resources/examples/travel-oslo
work=$(mktemp -d /tmp/softprompt-slurm-bench.XXXXXX)
chmod 755 "$work"
export SP_SLURM_RUN_DIR=$work/cluster SP_SLURM_CTLD_PORT=16827 SP_SLURM_SLURMD_PORT=16828
trap 'scripts/slurm-localhost.sh stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
eval "$(scripts/slurm-localhost.sh start 2>/dev/null)"
head -n 8 "$examples/train.jsonl" >"$work/queries.jsonl"
head -n 4 "$examples/heldout.jsonl" >"$work/heldout.jsonl"
cat >"$work/grid.json" <<JSON
{"name": "bench", "train": {"model": "demo", "context": "$examples/context.txt", "queries": "$work/queries.jsonl",
 "heldout": "$work/heldout.jsonl", "batch": 2, "eval-every": 10, "steps": $steps, "seed": 1},
 "grid": {"k": [1, 2, 4], "lr": [0.01, 0.05]}}
JSON
serial_start=$(date +%s.%N)
"$softprompt" sweep --grid "$work/grid.json" --db "$work/serial.sqlite" >"$work/serial.json" 2>/dev/null
serial_end=$(date +%s.%N)
slurm_start=$(date +%s.%N)
"$softprompt" sweep --grid "$work/grid.json" --slurm --cpus-per-task 1 --db "$work/slurm.sqlite" \
    --sweep-dir "$work/sweep" --wait --wait-timeout 1800 >"$work/slurm.json" 2>/dev/null
slurm_end=$(date +%s.%N)
python3 - "$work" "$serial_start" "$serial_end" "$slurm_start" "$slurm_end" "$(nproc)" "$steps" <<'PY'
import json, sqlite3, sys
work, a, b, c, d, cpus, steps = sys.argv[1:]
serial, slurm = float(b) - float(a), float(d) - float(c)
def finished(db):
    return sqlite3.connect(db).execute("SELECT COUNT(*) FROM runs WHERE status = 'finished'").fetchone()[0]
print(json.dumps({"benchmark": "slurm_sweep", "grid_points": 6, "steps": int(steps), "node_cpus": int(cpus),
                  "serial_seconds": round(serial, 2), "slurm_seconds": round(slurm, 2),
                  "speedup": round(serial / slurm, 2),
                  "finished_runs_serial": finished(work + "/serial.sqlite"),
                  "finished_runs_slurm": finished(work + "/slurm.sqlite")}))
PY
