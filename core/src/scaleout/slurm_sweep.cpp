// Sweeps on Slurm: the scripts, the record kept with the sweep, submission and cancellation.
#include "softprompt/error.h"
#include "softprompt/paths.h"
#include "softprompt/run_store.h"
#include "softprompt/slurm.h"
#include "softprompt/text.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

namespace fs = std::filesystem;

namespace sp::slurm {

namespace {

std::int64_t nowMs()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// 'text' for bash, safe for any content.
std::string shellQuote(const std::string& text)
{
    if (!text.empty() && text.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                                "_-+=.,/:@%") == std::string::npos)
        return text;
    std::string quoted = "'";
    for (char c : text) {
        if (c == '\'')
            quoted += "'\\''";
        else
            quoted += c;
    }
    return quoted + "'";
}

std::string isoNow()
{
    const std::time_t now = std::time(nullptr);
    std::tm utc{};
    gmtime_r(&now, &utc);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
    return text;
}

std::string shortId(const std::string& uuid)
{
    return uuid.substr(0, 8);
}


// The #SBATCH lines both scripts share (where the job may run and for how long).
std::string placementLines(const SubmitOptions& options)
{
    std::string lines;
    if (!options.partition.empty())
        lines += "#SBATCH --partition=" + options.partition + "\n";
    if (!options.account.empty())
        lines += "#SBATCH --account=" + options.account + "\n";
    if (!options.time.empty())
        lines += "#SBATCH --time=" + options.time + "\n";
    return lines;
}

std::string extraLines(const SubmitOptions& options)
{
    std::string lines;
    std::istringstream words(options.extraSbatch);
    std::string word;
    while (words >> word)
        lines += "#SBATCH " + word + "\n";
    return lines;
}

std::string preambleLines(const SubmitOptions& options)
{
    if (trimWhitespace(options.preamble).empty())
        return "";
    std::string text = "# Preamble (the sweep's preamble setting): environment for the nodes.\n" + options.preamble;
    if (text.back() != '\n')
        text += '\n';
    return text;
}

void writeText(const std::string& path, const std::string& text, bool executable)
{
    const std::string temporary = path + ".tmp";
    {
        std::ofstream file(temporary, std::ios::binary | std::ios::trunc);
        file << text;
        file.close();
        if (!file)
            throw Error(fileError(path, "cannot be written; check that its folder is writable"));
    }
    std::error_code error;
    fs::rename(temporary, path, error);
    if (error)
        throw Error(fileError(path, "cannot be written (" + error.message() + ")"));
    if (executable)
        fs::permissions(path, fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec,
                        fs::perm_options::add, error);
}

// sbatch --parsable prints "<job id>" or "<job id>;<cluster>".
std::string parsableJobId(const std::string& output)
{
    std::string line = trimWhitespace(output);
    if (const auto newline = line.find_last_of('\n'); newline != std::string::npos)
        line = line.substr(newline + 1);
    line = line.substr(0, line.find(';'));
    if (line.empty() || line.find_first_not_of("0123456789") != std::string::npos)
        return "";
    return line;
}

std::string sbatchFailure(const std::string& what, const CommandResult& result)
{
    if (result.timedOut)
        return "sbatch did not answer within 30 s while submitting " + what +
               ": is slurmctld running? (`scontrol ping`, `sinfo`)";
    return "sbatch refused " + what + " (exit " + std::to_string(result.exitCode) +
           "): " + trimWhitespace(result.output) +
           ". Check the partition, account, time limit and GPUs per task against `sinfo` and your allocation";
}

} // namespace

// ---- records ---------------------------------------------------------------------------------------

nlohmann::json SubmitOptions::toJson() const
{
    return {{"partition", partition},     {"gpus_per_task", gpusPerTask}, {"cpus_per_task", cpusPerTask},
            {"time", time},               {"account", account},          {"extra_sbatch", extraSbatch},
            {"preamble", preamble},       {"max_parallel", maxParallel}};
}

SubmitOptions SubmitOptions::fromJson(const nlohmann::json& json)
{
    SubmitOptions options;
    options.partition = json.value("partition", "");
    options.gpusPerTask = json.value("gpus_per_task", 0);
    options.cpusPerTask = json.value("cpus_per_task", 1);
    options.time = json.value("time", "");
    options.account = json.value("account", "");
    options.extraSbatch = json.value("extra_sbatch", "");
    options.preamble = json.value("preamble", "");
    options.maxParallel = json.value("max_parallel", 0);
    return options;
}

std::string SlurmSweep::shardDirectory() const { return (fs::path(directory) / "shards").string(); }
std::string SlurmSweep::shardPath(int index) const
{
    return (fs::path(directory) / "shards" / ("task-" + std::to_string(index) + ".sqlite")).string();
}
std::string SlurmSweep::logPath(int index) const
{
    return (fs::path(directory) / "logs" / ("task-" + std::to_string(index) + ".log")).string();
}
std::string SlurmSweep::mergeLogPath() const { return (fs::path(directory) / "logs" / "merge.log").string(); }
std::string SlurmSweep::scriptPath() const { return (fs::path(directory) / "sweep.sbatch").string(); }
std::string SlurmSweep::mergeScriptPath() const { return (fs::path(directory) / "merge.sbatch").string(); }
std::string SlurmSweep::recordPath() const { return (fs::path(directory) / "sweep.json").string(); }

nlohmann::json SlurmSweep::toJson() const
{
    nlohmann::json points = nlohmann::json::array();
    for (const GridPoint& point : this->points) {
        nlohmann::json options = nlohmann::json::array();
        for (const auto& [key, value] : point.options)
            options.push_back({key, value});
        points.push_back({{"index", point.index}, {"label", point.label}, {"options", options}});
    }
    return {{"uuid", uuid},
            {"name", name},
            {"directory", directory},
            {"database", database},
            {"softprompt", softprompt},
            {"points", points},
            {"slurm", options.toJson()},
            {"grid", grid},
            {"array_job_id", arrayJobId},
            {"merge_job_id", mergeJobId},
            {"submitted_at_ms", submittedAtMs},
            {"cancelled_at_ms", cancelledAtMs}};
}

SlurmSweep SlurmSweep::fromJson(const nlohmann::json& json)
{
    SlurmSweep sweep;
    sweep.uuid = json.value("uuid", "");
    sweep.name = json.value("name", "");
    sweep.directory = json.value("directory", "");
    sweep.database = json.value("database", "");
    sweep.softprompt = json.value("softprompt", "");
    for (const nlohmann::json& entry : json.value("points", nlohmann::json::array())) {
        GridPoint point;
        point.index = entry.value("index", 0);
        point.label = entry.value("label", "");
        for (const nlohmann::json& option : entry.value("options", nlohmann::json::array()))
            if (option.is_array() && option.size() == 2)
                point.options.emplace_back(option[0].get<std::string>(), option[1].get<std::string>());
        sweep.points.push_back(std::move(point));
    }
    sweep.options = SubmitOptions::fromJson(json.value("slurm", nlohmann::json::object()));
    sweep.grid = json.value("grid", nlohmann::json::object());
    sweep.arrayJobId = json.value("array_job_id", "");
    sweep.mergeJobId = json.value("merge_job_id", "");
    sweep.submittedAtMs = json.value("submitted_at_ms", std::int64_t(0));
    sweep.cancelledAtMs = json.value("cancelled_at_ms", std::int64_t(0));
    return sweep;
}

void writeSweepRecord(const SlurmSweep& sweep)
{
    writeText(sweep.recordPath(), sweep.toJson().dump(2) + "\n", false);
}

SlurmSweep readSweepRecord(const std::string& directoryOrFile)
{
    std::error_code error;
    const std::string path = fs::is_directory(directoryOrFile, error)
                                 ? (fs::path(directoryOrFile) / "sweep.json").string()
                                 : directoryOrFile;
    const nlohmann::json json = nlohmann::json::parse(readTextFile(path), nullptr, false);
    if (json.is_discarded() || !json.is_object() || !json.contains("uuid"))
        throw Error(fileError(path, "is not a sweep record (sweep.json written by softprompt sweep --slurm)"));
    return SlurmSweep::fromJson(json);
}

SlurmSweep planSweep(const SweepGrid& grid, const SubmitOptions& options, const std::string& database,
                     const std::string& directory, const std::string& softprompt)
{
    SlurmSweep sweep;
    sweep.uuid = newGlobalId();
    sweep.name = grid.name.empty() ? "grid sweep" : grid.name;
    sweep.database = fs::absolute(database).lexically_normal().string();
    sweep.softprompt = softprompt;
    sweep.points = grid.points;
    sweep.options = options;
    sweep.grid = grid.source;
    sweep.directory = fs::absolute(directory.empty() ? fs::path(sweep.database).parent_path() / "sweeps" /
                                                           ("sweep-" + shortId(sweep.uuid))
                                                     : fs::path(directory))
                          .lexically_normal()
                          .string();
    return sweep;
}

nlohmann::json sweepConfigJson(const SlurmSweep& sweep)
{
    nlohmann::json points = nlohmann::json::array();
    for (const GridPoint& point : sweep.points)
        points.push_back({{"index", point.index}, {"label", point.label}, {"arguments", point.trainArguments()}});
    return {{"grid", sweep.grid},
            {"points", points},
            {"slurm",
             {{"record", sweep.recordPath()},
              {"directory", sweep.directory},
              {"merge_into", sweep.database},
              {"array_job_id", sweep.arrayJobId},
              {"merge_job_id", sweep.mergeJobId},
              {"options", sweep.options.toJson()},
              {"script", sweep.arrayJobId.empty() ? std::string() : arrayScript(sweep)}}}};
}

// ---- scripts ---------------------------------------------------------------------------------------

std::string arrayScript(const SlurmSweep& sweep)
{
    const SubmitOptions& options = sweep.options;
    const int last = static_cast<int>(sweep.points.size()) - 1;
    std::string script = "#!/bin/bash\n";
    script += "# SoftPrompt Workbench sweep \"" + sweep.name + "\" (" + sweep.uuid + ")\n";
    script += "# " + std::to_string(sweep.points.size()) +
              " grid points, one array task each; written by `softprompt sweep --slurm` on " + isoNow() + ".\n";
    script += "# Each task trains its grid point with `softprompt train` and writes its own run database\n"
              "# (a shard) under shards/: SQLite is never written by several nodes at once. merge.sbatch,\n"
              "# submitted with --dependency=afterok:<this job> --kill-on-invalid-dep=yes, merges the shards into\n"
              "#   " + sweep.database + "\n"
              "# You may edit this file and submit it again by hand: sbatch " + sweep.scriptPath() + "\n";
    script += "#SBATCH --job-name=sp-" + shortId(sweep.uuid) + "\n";
    script += "#SBATCH --array=0-" + std::to_string(last) +
              (options.maxParallel > 0 ? "%" + std::to_string(options.maxParallel) : std::string()) + "\n";
    script += "#SBATCH --output=" + sweep.directory + "/logs/task-%a.log\n";
    script += "#SBATCH --chdir=" + sweep.directory + "\n";
    script += "#SBATCH --ntasks=1\n";
    script += "#SBATCH --cpus-per-task=" + std::to_string(std::max(1, options.cpusPerTask)) + "\n";
    if (options.gpusPerTask > 0)
        script += "#SBATCH --gpus-per-task=" + std::to_string(options.gpusPerTask) + "\n";
    script += placementLines(options) + extraLines(options);
    script += "set -euo pipefail\n";
    script += preambleLines(options);
    script += "export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}\n";
    script += "SOFTPROMPT=${SOFTPROMPT:-" + shellQuote(sweep.softprompt) + "}\n";
    script += "TASK=${SLURM_ARRAY_TASK_ID:?run this script with sbatch (it is a job array)}\n";
    script += "case \"$TASK\" in\n";
    for (const GridPoint& point : sweep.points) {
        std::string arguments;
        for (const std::string& argument : point.trainArguments())
            arguments += (arguments.empty() ? "" : " ") + shellQuote(argument);
        if (options.gpusPerTask > 0 && point.option("device").empty())
            arguments += " --device cuda";
        arguments += " --name " + shellQuote(point.label.empty() ? "point " + std::to_string(point.index)
                                                                 : point.label);
        script += "    " + std::to_string(point.index) + ") POINT=(" + arguments + ") ;;";
        if (!point.label.empty())
            script += " # " + point.label;
        script += "\n";
    }
    script += "    *) echo \"no grid point $TASK in this sweep\" >&2; exit 2 ;;\n";
    script += "esac\n";
    script += "exec \"$SOFTPROMPT\" train \"${POINT[@]}\" --db " + shellQuote(sweep.directory) +
              "/shards/task-\"$TASK\".sqlite \\\n    --sweep-uuid " + sweep.uuid + " --sweep-name " +
              shellQuote(sweep.name) + " --tag \"grid-point:$TASK\" --json\n";
    return script;
}

std::string mergeScript(const SlurmSweep& sweep)
{
    std::string script = "#!/bin/bash\n";
    script += "# Merges the shards of sweep \"" + sweep.name + "\" (" + sweep.uuid + ") into its run database.\n";
    script += "# Submitted with --dependency=afterok:<array job> --kill-on-invalid-dep=yes: it runs once every\n"
              "# task has succeeded, and Slurm cancels it when one fails. Merge by hand what exists with:\n"
              "#   softprompt runs merge " + sweep.shardDirectory() + " --into " + sweep.database + "\n";
    script += "#SBATCH --job-name=sp-" + shortId(sweep.uuid) + "-merge\n";
    script += "#SBATCH --output=" + sweep.mergeLogPath() + "\n";
    script += "#SBATCH --chdir=" + sweep.directory + "\n";
    script += "#SBATCH --ntasks=1\n#SBATCH --cpus-per-task=1\n";
    script += placementLines(sweep.options) + extraLines(sweep.options);
    script += "set -euo pipefail\n";
    script += preambleLines(sweep.options);
    script += "SOFTPROMPT=${SOFTPROMPT:-" + shellQuote(sweep.softprompt) + "}\n";
    script += "exec \"$SOFTPROMPT\" runs merge " + shellQuote(sweep.shardDirectory()) + " --into " +
              shellQuote(sweep.database) + "\n";
    return script;
}

// ---- submission ------------------------------------------------------------------------------------

std::string findOnPath(const std::string& program)
{
    const char* path = std::getenv("PATH");
    if (!path)
        return "";
    for (const std::string& folder : splitString(path, ':')) {
        if (folder.empty())
            continue;
        const fs::path candidate = fs::path(folder) / program;
        if (access(candidate.c_str(), X_OK) == 0)
            return candidate.string();
    }
    return "";
}

bool sbatchAvailable()
{
    return !findOnPath("sbatch").empty();
}

void submit(SlurmSweep& sweep)
{
    if (sweep.points.empty())
        throw Error("the sweep has no grid points to submit");
    if (!sbatchAvailable())
        throw Error("sbatch is not on PATH: run this on a Slurm login node (or `module load slurm`), or run "
                    "the sweep on this machine",
                    Remedy::RunSweepLocally);
    std::error_code error;
    for (const char* folder : {"shards", "logs"}) {
        fs::create_directories(fs::path(sweep.directory) / folder, error);
        if (error)
            throw Error("cannot create the sweep folder " + sweep.directory + " (" + error.message() +
                            "); put the sweep's folder on a filesystem every node can write",
                        Remedy::ChooseSweepFolder);
    }
    writeText(sweep.scriptPath(), arrayScript(sweep), true);
    writeText(sweep.mergeScriptPath(), mergeScript(sweep), true);
    writeSweepRecord(sweep);

    const CommandResult array = runCommand({"sbatch", "--parsable", sweep.scriptPath()}, 30);
    sweep.arrayJobId = array.exitCode == 0 ? parsableJobId(array.output) : "";
    if (sweep.arrayJobId.empty())
        throw Error(sbatchFailure("the array script " + sweep.scriptPath(), array),
                    Remedy::CheckSlurmOptions);
    sweep.submittedAtMs = nowMs();
    writeSweepRecord(sweep);
    const CommandResult merge = runCommand({"sbatch", "--parsable", "--dependency=afterok:" + sweep.arrayJobId,
                                            "--kill-on-invalid-dep=yes", sweep.mergeScriptPath()},
                                           30);
    sweep.mergeJobId = merge.exitCode == 0 ? parsableJobId(merge.output) : "";
    writeSweepRecord(sweep);
    if (sweep.mergeJobId.empty())
        throw Error(sbatchFailure("the merge job " + sweep.mergeScriptPath(), merge) +
                    ". The tasks (job " + sweep.arrayJobId + ") were submitted; merge their shards by hand: "
                    "softprompt runs merge " + sweep.shardDirectory() + " --into " + sweep.database);
}

void cancel(SlurmSweep& sweep)
{
    std::vector<std::string> arguments = {"scancel"};
    for (const std::string& job : {sweep.arrayJobId, sweep.mergeJobId})
        if (!job.empty())
            arguments.push_back(job);
    if (arguments.size() == 1)
        throw Error("sweep " + sweep.uuid + " has no Slurm jobs to cancel (it was never submitted)");
    const CommandResult result = runCommand(arguments, 30);
    if (result.exitCode != 0)
        throw Error(result.timedOut ? "scancel did not answer within 30 s: is slurmctld running?"
                                    : "scancel failed: " + trimWhitespace(result.output));
    sweep.cancelledAtMs = nowMs();
    writeSweepRecord(sweep);
}

} // namespace sp::slurm
