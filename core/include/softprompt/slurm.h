#pragma once
// Sweeps on a Slurm cluster: one job-array task per grid point, each running `softprompt train`
// into its own shard database, and a dependent job that merges the shards (`softprompt runs
// merge`). Slurm does the scheduling; this only writes the scripts, submits them with sbatch, asks
// scontrol/squeue/sacct how the tasks are doing, and cancels with scancel. Qt-free and torch-free
// (the GUI polls querySweepStatus on a worker thread).
//
// Every Slurm command runs with a timeout: when slurmctld is down, its clients hang for minutes.
#include "softprompt/sweep_grid.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace sp::slurm {

struct SubmitOptions {
    std::string partition;   // --partition (empty: the cluster's default)
    int gpusPerTask = 0;     // --gpus-per-task (0: none; points then default to --device cuda)
    int cpusPerTask = 1;     // --cpus-per-task (also the task's torch/OpenMP threads)
    std::string time;        // --time, e.g. "01:00:00" (empty: the partition's default)
    std::string account;     // --account
    std::string extraSbatch; // more sbatch options, e.g. "--mem=8G --qos=short" (one #SBATCH line each)
    std::string preamble;    // shell lines run before each task, e.g. "module load cuda/12.1"
    int maxParallel = 0;     // at most this many tasks at once (--array=...%N); 0 = no limit

    nlohmann::json toJson() const;
    static SubmitOptions fromJson(const nlohmann::json& json);
};

// A sweep submitted to Slurm: what was submitted, where its files are, and the job ids. Kept as
// sweep.json in the sweep's folder (on the shared filesystem) next to the two scripts, and in the
// sweep's record in the run database.
struct SlurmSweep {
    std::string uuid;       // the sweep's global id (RunStore sweeps.uuid)
    std::string name;
    std::string directory;  // absolute: scripts, sweep.json, shards/, logs/
    std::string database;   // absolute: the run database the merge job merges into
    std::string softprompt; // absolute path of the `softprompt` program the tasks run
    std::vector<GridPoint> points;
    SubmitOptions options;
    nlohmann::json grid = nlohmann::json::object(); // the grid file as read
    std::string arrayJobId; // empty until submitted
    std::string mergeJobId;
    std::int64_t submittedAtMs = 0;
    std::int64_t cancelledAtMs = 0;

    std::string shardPath(int index) const; // <directory>/shards/task-<index>.sqlite
    std::string logPath(int index) const;   // <directory>/logs/task-<index>.log
    std::string shardDirectory() const;
    std::string mergeLogPath() const;
    std::string scriptPath() const;      // sweep.sbatch
    std::string mergeScriptPath() const; // merge.sbatch
    std::string recordPath() const;      // sweep.json

    nlohmann::json toJson() const;
    static SlurmSweep fromJson(const nlohmann::json& json);
};

// A new sweep of `grid` (a fresh global id) whose merge job merges into `database`, with its folder
// at `directory` (default: <database's folder>/sweeps/sweep-<first 8 characters of the id>).
SlurmSweep planSweep(const SweepGrid& grid, const SubmitOptions& options, const std::string& database,
                     const std::string& directory, const std::string& softprompt);
// The sweep's record for RunStore sweeps.base_config: the grid, its points, and the Slurm side.
nlohmann::json sweepConfigJson(const SlurmSweep& sweep);

// The sbatch array script (readable: one `case` line per grid point) and the merge job's script.
std::string arrayScript(const SlurmSweep& sweep);
std::string mergeScript(const SlurmSweep& sweep);

// Writes sweep.json (atomically). Throws sp::Error naming the file.
void writeSweepRecord(const SlurmSweep& sweep);
// Reads <directory>/sweep.json (or the file itself). Throws sp::Error naming it.
SlurmSweep readSweepRecord(const std::string& directoryOrFile);

// True when `sbatch` is on PATH.
bool sbatchAvailable();
// Where `program` is on PATH ("" when it is not).
std::string findOnPath(const std::string& program);

// Creates the folders, writes both scripts and the record, submits the array with sbatch and the
// merge job with --dependency=afterok:<array> --kill-on-invalid-dep=yes (so a failed task cancels
// it instead of leaving it pending for ever), and records the job ids. Throws sp::Error with
// sbatch's own message and what to check.
void submit(SlurmSweep& sweep);
// scancel the array and the merge job; records the time. Throws sp::Error when scancel fails.
void cancel(SlurmSweep& sweep);

struct TaskState {
    int index = -1;          // array task id; -1 for the merge job
    std::string state = "UNKNOWN"; // Slurm's JobState (PENDING, RUNNING, COMPLETED, FAILED,
                             // CANCELLED, TIMEOUT, NODE_FAIL, OUT_OF_MEMORY, ...), or from our record
                             // when Slurm has forgotten the job: COMPLETED, FAILED, INTERRUPTED, UNKNOWN
    std::string source = "record"; // "scontrol", "sacct" or "record" (Slurm forgot it: shard and log)
    std::string reason;      // Slurm's Reason (e.g. DependencyNeverSatisfied)
    std::string exitCode;    // "0:0"
    std::string node;
    std::string runStatus;   // the status of the run in the task's shard ("" when there is none)
    int lastStep = 0;
    std::string logTail;     // the end of the task's log, for tasks that did not complete
    bool finished() const;   // ended one way or another
    bool succeeded() const;  // COMPLETED
};

struct SweepStatus {
    std::vector<TaskState> tasks; // one per grid point, by index
    TaskState merge;
    bool controllerReachable = true; // false: scontrol did not answer (slurmctld down?)
    bool accountingAvailable = false; // sacct answered
    std::string note;                 // what could not be asked, and what was used instead
    int count(const std::string& state) const;
    bool allFinished() const;
    nlohmann::json toJson() const;
};

// Asks scontrol (and sacct where accounting is on) about every task and the merge job; tasks
// Slurm has forgotten (after MinJobAge) are reported from their shard and log.
SweepStatus querySweepStatus(const SlurmSweep& sweep, int logTailLines = 15);

// ---- parsing Slurm's output (exposed for tests) ----------------------------------------------------
// "0-5%2", "1,3-4", "7" -> the task ids.
std::vector<int> expandArrayTaskIds(const std::string& text);
// `scontrol -o show job <id>`: one line per job or task of key=value fields -> state per task
// index (a pending range of tasks gives each of them its line's state).
std::map<int, TaskState> parseScontrolTasks(const std::string& output);
// The first record of `scontrol -o show job <id>` for a plain job (the merge job).
TaskState parseScontrolJob(const std::string& output);
// `sacct -n -P -X -o JobID,State,ExitCode,NodeList -j <array>` -> state per task index.
std::map<int, TaskState> parseSacctTasks(const std::string& output, const std::string& arrayJobId);

// ---- running programs ---------------------------------------------------------------------------
struct CommandResult {
    int exitCode = -1;     // -1 when it could not start or was killed
    bool timedOut = false;
    std::string output;    // stdout and stderr together
};
// Runs `arguments` (no shell), killing it after `timeoutSeconds`.
CommandResult runCommand(const std::vector<std::string>& arguments, int timeoutSeconds = 10);

// The last `lines` lines of a text file ("" when it cannot be read).
std::string fileTail(const std::string& path, int lines);

} // namespace sp::slurm
