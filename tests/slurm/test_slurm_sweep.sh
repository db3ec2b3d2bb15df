#!/usr/bin/env bash
# A sweep on a real Slurm: starts a single-node cluster with scripts/slurm-localhost.sh, submits a
# grid of 6 demo-model runs with `softprompt sweep --grid --slurm`, waits, checks the merged run
# database (every run finished, every curve complete, one sweep), then the two fault cases:
#   - one task scancelled mid-run: its run arrives interrupted (by-hand merge), the others complete;
#   - one bad grid point fails: the afterok merge job is cancelled (not left pending) and a
#     by-hand `runs merge` still merges what exists.
# Stops the cluster (by its pid files) however the test ends.
#
#   test_slurm_sweep.sh SOFTPROMPT SOURCE_DIR
# Exit 77 (a ctest skip) only when the cluster cannot run here: Slurm packages missing, not root.
set -euo pipefail

softprompt=$1
source_dir=$2
cluster=$source_dir/scripts/slurm-localhost.sh
examples=$source_dir/resources/examples/travel-oslo

work=$(mktemp -d /tmp/softprompt-slurm-test.XXXXXX)
chmod 755 "$work" # slurmctld runs as the slurm user and must reach its run directory below
export SP_SLURM_RUN_DIR=$work/cluster
# Ports of our own, so a cluster someone started by hand on the default ones is not disturbed.
export SP_SLURM_CTLD_PORT=${SP_SLURM_TEST_CTLD_PORT:-16817}
export SP_SLURM_SLURMD_PORT=${SP_SLURM_TEST_SLURMD_PORT:-16818}

failed=1
cleanup() {
    "$cluster" stop || true
    if ((failed)); then
        echo "test_slurm_sweep: FAILED; files kept in $work (cluster logs in $work/cluster)" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

step() { printf '\n=== %s\n' "$*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
check() { # description, actual, expected
    if [[ "$2" != "$3" ]]; then fail "$1: got '$2', expected '$3'"; fi
    echo "ok: $1 ($2)"
}
sql() { sqlite3 -batch -noheader "file:$1?mode=ro" "$2"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }

step "starting a single-node Slurm"
set +e
start_output=$("$cluster" start)
start_status=$?
set -e
if ((start_status == 77)); then
    failed=0
    echo "SKIP: a Slurm cluster cannot run here (see above); scripts/setup.sh installs the packages"
    exit 77
fi
((start_status == 0)) || fail "scripts/slurm-localhost.sh start failed ($start_status)"
eval "$start_output"
echo "SLURM_CONF=$SLURM_CONF"
for tool in sqlite3 python3; do command -v $tool >/dev/null || fail "$tool is needed (scripts/setup.sh installs it)"; done

# A few queries keep each run to seconds: the checks are about Slurm and the merge, not about σ.
head -n 8 "$examples/train.jsonl" >"$work/queries.jsonl"
head -n 4 "$examples/heldout.jsonl" >"$work/heldout.jsonl"
common='"model": "demo", "context": "'$examples'/context.txt", "queries": "'$work'/queries.jsonl",
        "heldout": "'$work'/heldout.jsonl", "batch": 2, "eval-every": 3, "checkpoint-every": 3, "seed": 1'

# ---- 1. a grid of 6 runs ---------------------------------------------------------------------------
step "a grid of 6 runs (k x lr), merged by the afterok job"
cat >"$work/grid.json" <<JSON
{"name": "slurm test grid", "train": {$common, "steps": 6}, "grid": {"k": [1, 2, 4], "lr": [0.01, 0.05]}}
JSON
"$softprompt" sweep --grid "$work/grid.json" --slurm --db "$work/merged.sqlite" --sweep-dir "$work/sweeps/grid" \
    --cpus-per-task 1 --wait --wait-timeout 900 >"$work/grid.out"
cat "$work/grid.out"
check "merge job state" "$(json 'd["status"]["merge"]["state"]' <"$work/grid.out")" COMPLETED
check "tasks completed" "$(json 'd["status"]["counts"].get("COMPLETED", 0)' <"$work/grid.out")" 6
db=$work/merged.sqlite
check "runs in the merged database" "$(sql "$db" "SELECT COUNT(*) FROM runs")" 6
check "finished runs" "$(sql "$db" "SELECT COUNT(*) FROM runs WHERE status = 'finished'")" 6
check "distinct global ids" "$(sql "$db" "SELECT COUNT(DISTINCT uuid) FROM runs")" 6
check "runs with a complete train_s curve (6 steps)" "$(sql "$db" "SELECT COUNT(*) FROM (SELECT m.run_id FROM metrics m
    JOIN metric_names n ON n.id = m.metric_id WHERE n.name = 'train_s' GROUP BY m.run_id HAVING COUNT(*) = 6
    AND MIN(m.step) = 1 AND MAX(m.step) = 6)")" 6
check "runs with a held-out curve" "$(sql "$db" "SELECT COUNT(DISTINCT m.run_id) FROM metrics m
    JOIN metric_names n ON n.id = m.metric_id WHERE n.name = 'heldout_s'")" 6
check "runs with a final σ checkpoint at step 6" "$(sql "$db" "SELECT COUNT(DISTINCT run_id) FROM checkpoints WHERE step = 6")" 6
check "runs with evaluations" "$(sql "$db" "SELECT COUNT(DISTINCT run_id) FROM evaluations")" 6
check "sweeps" "$(sql "$db" "SELECT COUNT(*) FROM sweeps")" 1
check "runs in the sweep" "$(sql "$db" "SELECT COUNT(*) FROM runs WHERE sweep_id = (SELECT id FROM sweeps)")" 6
check "grid points (k, lr) covered" "$(sql "$db" "SELECT COUNT(DISTINCT json_extract(config, '\$.k') || '/' ||
    json_extract(config, '\$.learning_rate')) FROM runs")" 6
check "grid-point tags" "$(sql "$db" "SELECT COUNT(*) FROM run_tags WHERE tag LIKE 'grid-point:%'")" 6
sweep_id=$(json 'd["sweep_id"]' <"$work/grid.out")
"$softprompt" sweep status "$sweep_id" --db "$db"
"$softprompt" sweep status "$sweep_id" --db "$db" --json >"$work/grid-status.json"
check "sweep status: completed tasks" "$(json 'd["counts"].get("COMPLETED", 0)' <"$work/grid-status.json")" 6
# Merging the shards again changes nothing.
before=$(sqlite3 "$db" .dump | sha256sum)
"$softprompt" runs merge "$work/sweeps/grid/shards" --into "$db" >"$work/remerge.out"
check "runs added by a second merge" "$(json 'd["runs_added"]' <"$work/remerge.out")" 0
check "database after a second merge" "$(sqlite3 "$db" .dump | sha256sum)" "$before"

# ---- 2. one task scancelled mid-run ----------------------------------------------------------------
step "fault: one task scancelled mid-run arrives interrupted"
cat >"$work/cancel.json" <<JSON
{"name": "cancel one", "train": {$common, "steps": 4, "k": 2},
 "grid": {"lr": [0.01, 0.05]}, "points": [{"lr": 0.02, "steps": 100000}]}
JSON
"$softprompt" sweep --grid "$work/cancel.json" --slurm --db "$work/cancel.sqlite" \
    --sweep-dir "$work/sweeps/cancel" --cpus-per-task 1 >"$work/cancel.out"
array=$(json 'd["array_job_id"]' <"$work/cancel.out")
cancel_id=$(json 'd["sweep_id"]' <"$work/cancel.out")
shard=$work/sweeps/cancel/shards/task-2.sqlite
deadline=$((SECONDS + 600))
until [[ -s $shard ]] && (($(sql "$shard" "SELECT COALESCE(MAX(last_step), 0) FROM runs" 2>/dev/null || echo 0) >= 3)); do
    ((SECONDS < deadline)) || fail "task 2 never reached step 3"
    sleep 0.5
done
echo "task 2 is at step $(sql "$shard" "SELECT MAX(last_step) FROM runs"); scancel ${array}_2"
timeout 10 scancel "${array}_2"
deadline=$((SECONDS + 600))
while :; do
    "$softprompt" sweep status "$cancel_id" --db "$work/cancel.sqlite" --json >"$work/cancel-status.json"
    [[ $(json 'd["all_finished"] and d["merge"]["state"] not in ("PENDING", "RUNNING", "UNKNOWN")' <"$work/cancel-status.json") == True ]] && break
    ((SECONDS < deadline)) || fail "the cancelled sweep did not settle: $(cat "$work/cancel-status.json")"
    sleep 1
done
"$softprompt" sweep status "$cancel_id" --db "$work/cancel.sqlite"
check "task 2 state" "$(json 'd["tasks"][2]["state"]' <"$work/cancel-status.json")" CANCELLED
check "completed tasks" "$(json 'd["counts"].get("COMPLETED", 0)' <"$work/cancel-status.json")" 2
check "merge job (afterok on a cancelled task)" "$(json 'd["merge"]["state"]' <"$work/cancel-status.json")" CANCELLED
"$softprompt" sweep merge "$cancel_id" --db "$work/cancel.sqlite" >"$work/cancel-merge.out"
cat "$work/cancel-merge.out"
db=$work/cancel.sqlite
check "runs merged" "$(sql "$db" "SELECT COUNT(*) FROM runs")" 3
check "finished runs" "$(sql "$db" "SELECT COUNT(*) FROM runs WHERE status = 'finished'")" 2
check "interrupted run" "$(sql "$db" "SELECT COUNT(*) FROM runs WHERE status = 'interrupted' AND
    json_extract(config, '\$.steps') = 100000")" 1
check "the interrupted run kept its curve" "$(sql "$db" "SELECT COUNT(*) >= 3 FROM metrics m JOIN runs r ON r.id = m.run_id
    JOIN metric_names n ON n.id = m.metric_id WHERE r.status = 'interrupted' AND n.name = 'train_s'")" 1
check "complete curves of the finished runs" "$(sql "$db" "SELECT COUNT(*) FROM (SELECT m.run_id FROM metrics m
    JOIN runs r ON r.id = m.run_id JOIN metric_names n ON n.id = m.metric_id WHERE r.status = 'finished'
    AND n.name = 'train_s' GROUP BY m.run_id HAVING COUNT(*) = 4)")" 2

# ---- 3. one bad grid point -------------------------------------------------------------------------
step "fault: a bad grid point fails; the merge job is cancelled, a by-hand merge merges what exists"
cat >"$work/bad.json" <<JSON
{"name": "bad point", "train": {$common, "steps": 3}, "grid": {"k": [1, 2, 0]}}
JSON
"$softprompt" sweep --grid "$work/bad.json" --slurm --db "$work/bad.sqlite" --sweep-dir "$work/sweeps/bad" \
    --cpus-per-task 1 --wait --wait-timeout 900 >"$work/bad.out"
"$softprompt" sweep status "$(json 'd["sweep_id"]' <"$work/bad.out")" --db "$work/bad.sqlite" | tee "$work/bad-status.txt"
check "failed task" "$(json 'd["status"]["tasks"][2]["state"]' <"$work/bad.out")" FAILED
check "completed tasks" "$(json 'd["status"]["counts"].get("COMPLETED", 0)' <"$work/bad.out")" 2
check "merge job" "$(json 'd["status"]["merge"]["state"]' <"$work/bad.out")" CANCELLED
check "merge job reason" "$(json 'd["status"]["merge"]["reason"]' <"$work/bad.out")" DependencyNeverSatisfied
grep -q "k must be" "$work/bad-status.txt" || grep -qi "error" "$work/bad-status.txt" ||
    fail "the failed task's log tail is not shown"
echo "ok: the failed task's log tail is shown"
check "runs in the database before merging by hand" "$(sql "$work/bad.sqlite" "SELECT COUNT(*) FROM runs")" 0
"$softprompt" runs merge "$work/sweeps/bad/shards" --into "$work/bad.sqlite" >"$work/bad-merge.out"
cat "$work/bad-merge.out"
check "runs merged by hand" "$(sql "$work/bad.sqlite" "SELECT COUNT(*) FROM runs WHERE status = 'finished'")" 2

failed=0
step "all Slurm checks passed"
