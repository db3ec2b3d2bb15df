// Sweep grids, sweeps on Slurm, and merging run databases:
//   softprompt sweep --grid FILE [--db PATH] [train options shared by every point]
//   softprompt sweep --grid FILE --slurm [--partition P] [--gpus-per-task N] [--cpus-per-task N]
//                    [--time T] [--account A] [--extra-sbatch "..."] [--preamble FILE]
//                    [--max-parallel N] [--sweep-dir DIR] [--wait]
//   softprompt sweep status ID [--db PATH] [--json]     ID: the sweep's id in --db, its uuid, or its folder
//   softprompt sweep cancel ID [--db PATH]
//   softprompt sweep merge ID [--db PATH]                merge what the tasks have written so far
//   softprompt runs merge SOURCE... --into DB            SOURCE: a run database, or a folder of *.sqlite
#include "cli_common.h"
#include "cmd_sweep.h"
#include "registry.h"

#include "softprompt/error.h"
#include "softprompt/paths.h"
#include "softprompt/run_store.h"
#include "softprompt/slurm.h"
#include "softprompt/sweep_grid.h"
#include "softprompt/text.h"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <set>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

CLI::App* findSubcommand(CLI::App& parent, const std::string& name)
{
    try {
        return parent.get_subcommand(name);
    } catch (const CLI::OptionNotFound&) {
        return nullptr;
    }
}

// ---- runs merge ---------------------------------------------------------------------------------------

// Files as given; a folder stands for the *.sqlite files in it (sorted, so the order is stable).
std::vector<std::string> expandSources(const std::vector<std::string>& sources)
{
    std::vector<std::string> files;
    for (const std::string& source : sources) {
        std::error_code error;
        if (!fs::is_directory(source, error)) {
            files.push_back(source);
            continue;
        }
        std::vector<std::string> inFolder;
        for (const fs::directory_entry& entry : fs::directory_iterator(source, error))
            if (entry.path().extension() == ".sqlite")
                inFolder.push_back(entry.path().string());
        std::sort(inFolder.begin(), inFolder.end());
        files.insert(files.end(), inFolder.begin(), inFolder.end());
    }
    return files;
}

nlohmann::json mergeJson(const sp::MergeResult& result, const std::string& into)
{
    nlohmann::json shards = nlohmann::json::array();
    for (const sp::ShardMergeResult& shard : result.shards) {
        nlohmann::json remapped = nlohmann::json::array();
        for (const auto& [from, to] : shard.remappedIds)
            remapped.push_back({from, to});
        nlohmann::json entry = {{"path", shard.path},
                                {"runs_added", shard.runsAdded},
                                {"runs_updated", shard.runsUpdated},
                                {"runs_unchanged", shard.runsUnchanged},
                                {"runs_still_running", shard.runsStillRunning},
                                {"runs_interrupted", shard.runsInterrupted},
                                {"remapped_ids", remapped}};
        if (!shard.error.empty())
            entry["error"] = shard.error;
        shards.push_back(entry);
    }
    return {{"into", into},
            {"shards", shards},
            {"runs_added", result.runsAdded()},
            {"runs_updated", result.runsUpdated()},
            {"runs_unchanged", result.runsUnchanged()},
            {"runs_still_running", result.runsStillRunning()},
            {"failed_shards", result.failedShards()}};
}

// Merges and prints the result; a source that could not be merged is an error after the others
// were merged (exit status 1).
void mergeInto(const std::vector<std::string>& sources, const std::string& into)
{
    const std::vector<std::string> files = expandSources(sources);
    if (files.empty())
        throw sp::Error("nothing to merge: no run databases (*.sqlite) in " + sp::joinStrings(sources, ", "));
    sp::RunStore store = sp::RunStore::open(into);
    const sp::MergeResult result = store.merge(files);
    spcli::printJson(mergeJson(result, store.path()));
    for (const sp::ShardMergeResult& shard : result.shards)
        if (!shard.error.empty())
            spcli::printError("not merged: " + shard.path + ": " + shard.error);
    if (result.runsStillRunning() > 0)
        spcli::printError(std::to_string(result.runsStillRunning()) +
                          " run(s) are still being written and were left out; merge again once they end");
    if (result.failedShards() > 0)
        throw sp::Error(std::to_string(result.failedShards()) + " of " + std::to_string(files.size()) +
                        " file(s) could not be merged (above); the others were merged into " + store.path());
}

// ---- sweep --grid --------------------------------------------------------------------------------------

struct GridOptions {
    std::string grid;
    bool slurm = false;
    sp::slurm::SubmitOptions submit;
    std::string preambleFile;
    std::string sweepDirectory;
    bool wait = false;
    int waitTimeoutSeconds = 0;
};

struct SweepCommandOptions {
    std::string id;
    std::string db;
    bool json = false;
};

GridOptions& gridOptions()
{
    static GridOptions options;
    return options;
}

// The `sweep` options a grid point may take from the command line (those the user gave).
std::vector<sp::TrainOption> sharedTrainOptions(CLI::App& sweep)
{
    std::vector<sp::TrainOption> shared;
    for (const CLI::Option* option : sweep.get_options()) {
        if (option->count() == 0 || option->get_lnames().empty())
            continue;
        const std::string key = option->get_lnames().front();
        if (!sp::isGridOptionKey(key))
            continue;
        const std::vector<std::string> results = option->results();
        if (!results.empty())
            shared.emplace_back(key, results.back());
    }
    return shared;
}

std::string optionValue(CLI::App& sweep, const std::string& name)
{
    const CLI::Option* option = sweep.get_option_no_throw("--" + name);
    return option && option->count() > 0 && !option->results().empty() ? option->results().back() : "";
}

std::string selfExecutable()
{
    std::error_code error;
    const fs::path self = fs::read_symlink("/proc/self/exe", error);
    return error ? std::string("softprompt") : self.string();
}

std::string sweepLabel(const sp::SweepGrid& grid)
{
    return grid.name.empty() ? "grid sweep" : grid.name;
}

nlohmann::json sweepRecordJson(const sp::SweepGrid& grid)
{
    nlohmann::json points = nlohmann::json::array();
    for (const sp::GridPoint& point : grid.points)
        points.push_back({{"index", point.index}, {"label", point.label}, {"arguments", point.trainArguments()}});
    return {{"grid", grid.source}, {"axes", grid.axes}, {"points", points}};
}

// Runs `softprompt train` for one grid point as a child process (its stdout, the result JSON, goes
// to our stderr with its progress, so that our stdout stays one JSON object). Returns its exit code.
int runPointHere(const std::vector<std::string>& arguments)
{
    std::vector<char*> argv;
    for (const std::string& argument : arguments)
        argv.push_back(const_cast<char*>(argument.c_str()));
    argv.push_back(nullptr);
    std::fflush(nullptr);
    const pid_t child = fork();
    if (child < 0)
        throw sp::Error("cannot start softprompt train for a grid point (fork failed)");
    if (child == 0) {
        dup2(STDERR_FILENO, STDOUT_FILENO);
        execv(argv[0], argv.data());
        _exit(127);
    }
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

void runGridHere(const sp::SweepGrid& grid, const std::string& dbOption)
{
    const std::string db = fs::absolute(spcli::databasePath(dbOption)).lexically_normal().string();
    const std::string uuid = sp::newGlobalId();
    std::int64_t sweepId = 0;
    {
        sp::RunStore store = sp::RunStore::open(db);
        sweepId = store.findOrCreateSweep(uuid, sweepLabel(grid), sweepRecordJson(grid));
    }
    const std::string self = selfExecutable();
    const Clock::time_point start = Clock::now();
    nlohmann::json points = nlohmann::json::array();
    int failed = 0;
    for (const sp::GridPoint& point : grid.points) {
        std::vector<std::string> arguments = {self, "train"};
        for (const std::string& argument : point.trainArguments())
            arguments.push_back(argument);
        for (const std::string& argument :
             {std::string("--db"), db, std::string("--sweep-uuid"), uuid, std::string("--sweep-name"),
              sweepLabel(grid), std::string("--tag"), "grid-point:" + std::to_string(point.index),
              std::string("--name"), point.label.empty() ? "point " + std::to_string(point.index) : point.label,
              std::string("--json")})
            arguments.push_back(argument);
        std::cerr << "[" << point.index + 1 << "/" << grid.points.size() << "] " << point.label << std::endl;
        const int exitCode = runPointHere(arguments);
        failed += exitCode != 0 ? 1 : 0;
        points.push_back({{"index", point.index}, {"label", point.label}, {"exit_code", exitCode}});
        if (exitCode == 130 || exitCode == 128 + SIGINT)
            break; // Ctrl-C: the point was cancelled; stop the sweep
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    sp::RunStore store = sp::RunStore::open(db);
    const sp::SweepRecord record = store.sweep(sweepId);
    nlohmann::json runs = nlohmann::json::array();
    for (std::int64_t runId : record.runIds) {
        const sp::RunRecord run = store.run(runId);
        runs.push_back({{"run_id", run.id}, {"uuid", run.uuid}, {"name", run.name},
                        {"status", sp::runStatusKey(run.status)}, {"last_step", run.lastStep}});
    }
    spcli::printJson({{"sweep_id", sweepId},
                      {"uuid", uuid},
                      {"db", db},
                      {"points", points},
                      {"runs", runs},
                      {"failed_points", failed},
                      {"wall_seconds", seconds}});
    if (failed > 0)
        throw sp::Error(std::to_string(failed) + " of " + std::to_string(grid.points.size()) +
                        " grid point(s) failed (their errors are above)");
}

// Polls until every task and the merge job have ended (or `timeoutSeconds`); prints a line on
// every change.
sp::slurm::SweepStatus waitForSweep(const sp::slurm::SlurmSweep& sweep, int timeoutSeconds)
{
    const Clock::time_point start = Clock::now();
    std::string lastLine;
    for (;;) {
        sp::slurm::SweepStatus status = sp::slurm::querySweepStatus(sweep);
        std::string line;
        const nlohmann::json counts = status.toJson()["counts"];
        for (const auto& [state, count] : counts.items())
            line += state + " " + std::to_string(count.get<int>()) + "  ";
        line += "merge " + status.merge.state;
        if (line != lastLine)
            std::cerr << "sweep " << sweep.uuid.substr(0, 8) << ": " << line << std::endl;
        lastLine = line;
        if (status.allFinished() && status.merge.finished())
            return status;
        if (!status.controllerReachable)
            throw sp::Error("lost contact with slurmctld while waiting (" + status.note +
                            "); the jobs may still run: softprompt sweep status " + sweep.directory);
        if (timeoutSeconds > 0 && Clock::now() - start > std::chrono::seconds(timeoutSeconds))
            throw sp::Error("the sweep did not end within " + std::to_string(timeoutSeconds) +
                            " s; it keeps running: softprompt sweep status " + sweep.directory);
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
}

void runGridOnSlurm(const sp::SweepGrid& grid, const GridOptions& options, const std::string& dbOption)
{
    sp::slurm::SubmitOptions submit = options.submit;
    if (!options.preambleFile.empty())
        submit.preamble = sp::readTextFile(options.preambleFile);
    sp::slurm::SlurmSweep sweep = sp::slurm::planSweep(grid, submit, spcli::databasePath(dbOption),
                                                       options.sweepDirectory, selfExecutable());
    std::int64_t sweepId = 0;
    {
        sp::RunStore store = sp::RunStore::open(sweep.database);
        sweepId = store.findOrCreateSweep(sweep.uuid, sweep.name, sp::slurm::sweepConfigJson(sweep));
    }
    const Clock::time_point start = Clock::now();
    sp::slurm::submit(sweep);
    {
        sp::RunStore store = sp::RunStore::open(sweep.database);
        store.setSweepConfig(sweepId, sp::slurm::sweepConfigJson(sweep));
    }
    nlohmann::json output = {{"sweep_id", sweepId},
                             {"uuid", sweep.uuid},
                             {"db", sweep.database},
                             {"directory", sweep.directory},
                             {"script", sweep.scriptPath()},
                             {"points", sweep.points.size()},
                             {"array_job_id", sweep.arrayJobId},
                             {"merge_job_id", sweep.mergeJobId}};
    std::cerr << "submitted " << sweep.points.size() << " task(s) as job " << sweep.arrayJobId
              << ", merge job " << sweep.mergeJobId << "; script " << sweep.scriptPath()
              << "\n  follow it with: softprompt sweep status " << sweepId << " --db " << sweep.database
              << std::endl;
    if (options.wait) {
        const sp::slurm::SweepStatus status = waitForSweep(sweep, options.waitTimeoutSeconds);
        output["status"] = status.toJson();
        output["wall_seconds"] = std::chrono::duration<double>(Clock::now() - start).count();
    }
    spcli::printJson(output);
}

// ---- sweep status / cancel / merge ----------------------------------------------------------------------

sp::slurm::SlurmSweep findSweep(const SweepCommandOptions& options)
{
    std::error_code error;
    if (fs::exists(options.id, error))
        return sp::slurm::readSweepRecord(options.id);
    sp::RunStore store = spcli::openExistingStore(options.db);
    std::optional<std::int64_t> id;
    if (!options.id.empty() && options.id.find_first_not_of("0123456789") == std::string::npos)
        id = std::stoll(options.id);
    else
        for (const sp::SweepRecord& sweep : store.listSweeps())
            if (!options.id.empty() && sweep.uuid.rfind(options.id, 0) == 0)
                id = sweep.id;
    if (!id)
        throw sp::Error("no sweep " + options.id + " in " + store.path() +
                        "; pass the id that `softprompt sweep --slurm` printed, its uuid, or its folder");
    const sp::SweepRecord sweep = store.sweep(*id);
    const std::string record = sweep.baseConfig.contains("slurm")
                                   ? sweep.baseConfig["slurm"].value("record", std::string())
                                   : std::string();
    if (record.empty())
        throw sp::Error("sweep " + options.id + " in " + store.path() +
                        " did not run on Slurm (it has no Slurm record); its runs are in `softprompt runs list`");
    return sp::slurm::readSweepRecord(record);
}

void printStatusTable(const sp::slurm::SlurmSweep& sweep, const sp::slurm::SweepStatus& status)
{
    std::printf("sweep %s \"%s\": array job %s, merge job %s\n", sweep.uuid.c_str(), sweep.name.c_str(),
                sweep.arrayJobId.c_str(), sweep.mergeJobId.c_str());
    std::printf("%-5s %-12s %-9s %-12s %6s  %-24s %s\n", "TASK", "STATE", "FROM", "RUN", "STEP", "REASON",
                "POINT");
    for (const sp::slurm::TaskState& task : status.tasks) {
        const std::string label = task.index < static_cast<int>(sweep.points.size())
                                      ? sweep.points[static_cast<std::size_t>(task.index)].label
                                      : "";
        std::printf("%-5d %-12s %-9s %-12s %6d  %-24s %s\n", task.index, task.state.c_str(), task.source.c_str(),
                    task.runStatus.empty() ? "-" : task.runStatus.c_str(), task.lastStep, task.reason.c_str(),
                    label.c_str());
    }
    std::printf("merge %-12s %-9s %s\n", status.merge.state.c_str(), status.merge.source.c_str(),
                status.merge.reason.c_str());
    for (const sp::slurm::TaskState& task : status.tasks)
        if (!task.logTail.empty())
            std::printf("\n--- task %d (%s): end of %s ---\n%s", task.index, task.state.c_str(),
                        sweep.logPath(task.index).c_str(), task.logTail.c_str());
    if (!status.merge.logTail.empty())
        std::printf("\n--- merge job: end of %s ---\n%s", sweep.mergeLogPath().c_str(), status.merge.logTail.c_str());
    if (!status.note.empty())
        std::printf("\nnote: %s\n", status.note.c_str());
}

void runStatus(const SweepCommandOptions& options)
{
    const sp::slurm::SlurmSweep sweep = findSweep(options);
    const sp::slurm::SweepStatus status = sp::slurm::querySweepStatus(sweep);
    if (options.json) {
        nlohmann::json json = status.toJson();
        json["uuid"] = sweep.uuid;
        json["directory"] = sweep.directory;
        json["array_job_id"] = sweep.arrayJobId;
        json["merge_job_id"] = sweep.mergeJobId;
        spcli::printJson(json);
    } else {
        printStatusTable(sweep, status);
    }
}

void runCancel(const SweepCommandOptions& options)
{
    sp::slurm::SlurmSweep sweep = findSweep(options);
    sp::slurm::cancel(sweep);
    spcli::printJson({{"uuid", sweep.uuid}, {"cancelled", {sweep.arrayJobId, sweep.mergeJobId}},
                      {"merge_by_hand", "softprompt runs merge " + sweep.shardDirectory() + " --into " +
                                            sweep.database}});
}

void runSweepMerge(const SweepCommandOptions& options)
{
    const sp::slurm::SlurmSweep sweep = findSweep(options);
    mergeInto({sweep.shardDirectory()}, sweep.database);
}

// ---- registration ------------------------------------------------------------------------------------------

void addSweepCommand(CLI::App& sweep, const char* name, const char* description,
                     void (*action)(const SweepCommandOptions&), bool json)
{
    auto options = std::make_shared<SweepCommandOptions>();
    CLI::App* command = sweep.add_subcommand(name, description);
    command->add_option("id", options->id, "The sweep: its id in --db, its uuid (or a prefix), or its folder")
        ->required();
    command->add_option("--db", options->db, "Run database holding the sweep (default: the per-user runs.sqlite)");
    if (json)
        command->add_flag("--json", options->json, "Print JSON");
    command->callback([options, action] { action(*options); });
}

void registerSweepCommands(CLI::App& app)
{
    // `runs merge`
    if (CLI::App* runs = findSubcommand(app, "runs")) {
        auto sources = std::make_shared<std::vector<std::string>>();
        auto into = std::make_shared<std::string>();
        CLI::App* merge = runs->add_subcommand(
            "merge", "Merge run databases (e.g. a Slurm sweep's shards) into one, by global run id");
        merge->add_option("sources", *sources, "Run databases, or folders of *.sqlite files")->required();
        merge->add_option("--into", *into, "The run database to merge into (created when missing)")->required();
        merge->callback([sources, into] { mergeInto(*sources, *into); });
    }

    // `sweep --grid ... [--slurm ...]`, `sweep status|cancel|merge ID`
    CLI::App* sweep = findSubcommand(app, "sweep");
    if (!sweep)
        return;
    for (const char* name : {"--model", "--context", "--queries"})
        if (CLI::Option* option = sweep->get_option_no_throw(name))
            option->required(false); // a grid file may set them; checked in runGridSweepIfAsked
    GridOptions& options = gridOptions();
    sweep->add_option("--grid", options.grid,
                      "A sweep grid (JSON) over k, objective, lr, init, seed, target and context/query "
                      "pairs; see docs. Train options given here apply to every point");
    sweep->add_flag("--slurm", options.slurm,
                    "Submit the grid to Slurm as a job array (one task per point) plus a merge job");
    sweep->add_option("--partition", options.submit.partition, "Slurm partition");
    sweep->add_option("--gpus-per-task", options.submit.gpusPerTask, "GPUs per task (points then use --device cuda)");
    sweep->add_option("--cpus-per-task", options.submit.cpusPerTask, "CPUs per task (and torch threads)")
        ->capture_default_str();
    sweep->add_option("--time", options.submit.time, "Time limit per task, e.g. 01:00:00");
    sweep->add_option("--account", options.submit.account, "Slurm account to charge");
    sweep->add_option("--extra-sbatch", options.submit.extraSbatch,
                      "More sbatch options, e.g. \"--mem=8G --qos=short\"");
    sweep->add_option("--preamble", options.preambleFile,
                      "A file of shell lines run before each task (e.g. module load cuda)");
    sweep->add_option("--max-parallel", options.submit.maxParallel, "At most N tasks at once (0 = no limit)");
    sweep->add_option("--sweep-dir", options.sweepDirectory,
                      "Folder for scripts, shards and logs, on a filesystem every node shares "
                      "(default: sweeps/ next to --db)");
    sweep->add_flag("--wait", options.wait, "With --slurm: wait until the tasks and the merge job end");
    sweep->add_option("--wait-timeout", options.waitTimeoutSeconds, "With --wait: give up after N seconds");

    addSweepCommand(*sweep, "status", "Show a Slurm sweep's tasks (scontrol, sacct, or our record)", runStatus,
                    true);
    addSweepCommand(*sweep, "cancel", "Cancel a Slurm sweep's tasks and merge job (scancel)", runCancel, false);
    addSweepCommand(*sweep, "merge", "Merge the shards a Slurm sweep has written so far into its database",
                    runSweepMerge, false);
}

} // namespace

namespace spcli {

bool runGridSweepIfAsked(CLI::App& sweep)
{
    for (const char* name : {"status", "cancel", "merge"})
        if (CLI::App* command = findSubcommand(sweep, name); command && command->parsed())
            return true; // its own callback ran
    const GridOptions& options = gridOptions();
    if (options.grid.empty()) {
        if (options.slurm)
            throw sp::Error("--slurm needs --grid FILE (a grid of k alone is {\"k\": [1, 2, 4, 8]})");
        for (const char* name : {"model", "context", "queries"})
            if (optionValue(sweep, name).empty())
                throw sp::Error(std::string("sweep: --") + name + " is required (or pass --grid FILE)");
        return false;
    }
    sp::SweepGrid grid = sp::loadSweepGrid(options.grid, sharedTrainOptions(sweep));
    if (const std::string name = optionValue(sweep, "name"); !name.empty())
        grid.name = name;
    const std::string db = optionValue(sweep, "db");
    if (options.slurm)
        runGridOnSlurm(grid, options, db);
    else
        runGridHere(grid, db);
    return true;
}

} // namespace spcli

SP_REGISTER_CLI_COMMANDS(45, registerSweepCommands);
