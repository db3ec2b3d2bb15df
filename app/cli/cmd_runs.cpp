// `softprompt runs ...`: list, show, export, import and delete stored runs; `softprompt bench store`.
// Every runs command takes --db PATH (default: the GUI's database, sp::defaultDatabasePath()).
#include "cli_common.h"
#include "registry.h"

#include "softprompt/error.h"
#include "softprompt/run_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <memory>
#include <sstream>

#include <unistd.h>

namespace fs = std::filesystem;

namespace {

struct DatabaseOption {
    std::string path; // empty: the default location
};

void addDatabaseOption(CLI::App& command, DatabaseOption& option)
{
    command.add_option(
        "--db", option.path,
        "Run database (default: $XDG_DATA_HOME/softprompt-workbench/runs.sqlite, shared with the GUI)");
}

// For import-peft, which may create the database.
sp::RunStore openStore(const DatabaseOption& option)
{
    return sp::RunStore::open(spcli::databasePath(option.path));
}

// For the commands that read or change existing runs: a missing database is not created.
sp::RunStore openExistingStore(const DatabaseOption& option)
{
    return spcli::openExistingStore(option.path);
}

std::string isoTime(std::int64_t milliseconds)
{
    if (milliseconds <= 0)
        return "";
    const std::time_t seconds = static_cast<std::time_t>(milliseconds / 1000);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char buffer[32];
    std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &utc);
    return buffer;
}

nlohmann::json numberOrNull(double value)
{
    return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json();
}

nlohmann::json runToJson(const sp::RunRecord& run)
{
    nlohmann::json json = {
        {"id", run.id},
        {"uuid", run.uuid},
        {"name", run.name},
        {"status", sp::runStatusKey(run.status)},
        {"started", isoTime(run.startedAtMs)},
        {"ended", isoTime(run.endedAtMs)},
        {"startedAtMs", run.startedAtMs},
        {"endedAtMs", run.endedAtMs},
        {"config", run.config},
        {"model", {{"path", run.model.path}, {"hash", run.model.hash}, {"summary", run.model.summary}}},
        {"device", run.device},
        {"error", run.error},
        {"tags", run.tags},
        {"notes", run.notes},
        {"lastStep", run.lastStep},
        {"lastMetrics", run.lastMetrics},
        {"summary", run.summary},
        {"owner", {{"pid", run.owner.pid}, {"host", run.owner.host}}}};
    json["contextId"] = run.contextId ? nlohmann::json(*run.contextId) : nlohmann::json();
    json["querySetId"] = run.querySetId ? nlohmann::json(*run.querySetId) : nlohmann::json();
    json["sweepId"] = run.sweepId ? nlohmann::json(*run.sweepId) : nlohmann::json();
    json["lastCheckpointStep"] =
        run.lastCheckpointStep ? nlohmann::json(*run.lastCheckpointStep) : nlohmann::json();
    return json;
}

std::string formatValue(double value)
{
    if (std::isnan(value))
        return "nan";
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.6g", value);
    return buffer;
}

std::string configText(const nlohmann::json& config, const char* key)
{
    const auto found = config.find(key);
    if (found == config.end() || found->is_null())
        return "-";
    return found->is_string() ? found->get<std::string>() : found->dump();
}

// ---- runs list -------------------------------------------------------------------------------------

struct ListOptions {
    DatabaseOption db;
    bool json = false;
    std::string status, tag, search;
    int limit = 0;
};

void runList(const ListOptions& options)
{
    sp::RunFilter filter;
    if (!options.status.empty())
        filter.status = sp::runStatusFromKey(options.status);
    const std::string path = spcli::databasePath(options.db.path);
    std::error_code missing;
    if (!fs::exists(path, missing)) {
        // Listing must not leave an empty database behind (e.g. under a mistyped --db).
        if (options.json)
            spcli::printJson({{"database", path}, {"exists", false}, {"runs", nlohmann::json::array()}});
        else
            std::cout << "no runs yet: " << path << " does not exist\n";
        return;
    }
    sp::RunStore store = sp::RunStore::open(path);
    filter.tag = options.tag;
    filter.text = options.search;
    filter.limit = options.limit;
    const std::vector<sp::RunRecord> runs = store.listRuns(filter);
    if (options.json) {
        nlohmann::json list = nlohmann::json::array();
        for (const sp::RunRecord& run : runs)
            list.push_back(runToJson(run));
        spcli::printJson({{"database", store.path()}, {"exists", true}, {"runs", list}});
        return;
    }
    if (runs.empty()) {
        std::cout << "no runs in " << store.path() << "\n";
        return;
    }
    std::printf("%-5s %-11s %-20s %-4s %-9s %7s %12s  %s\n", "ID", "STATUS", "STARTED (UTC)", "K",
                "OBJECTIVE", "STEP", "TRAIN S", "NAME [TAGS]");
    for (const sp::RunRecord& run : runs) {
        const auto trainS = run.lastMetrics.find(sp::metric_key::TrainS);
        const std::string lastS = trainS == run.lastMetrics.end() ? "-"
                                  : trainS->is_number()           ? formatValue(trainS->get<double>())
                                                                  : "nan";
        std::string label = run.name;
        if (!run.tags.empty()) {
            std::string tags;
            for (const std::string& tag : run.tags)
                tags += (tags.empty() ? "" : ", ") + tag;
            label += " [" + tags + "]";
        }
        std::printf("%-5lld %-11s %-20s %-4s %-9s %7d %12s  %s\n", static_cast<long long>(run.id),
                    sp::runStatusKey(run.status).c_str(), isoTime(run.startedAtMs).c_str(),
                    configText(run.config, "k").c_str(), configText(run.config, "objective").c_str(),
                    run.lastStep, lastS.c_str(), label.c_str());
    }
}

// ---- runs show ---------------------------------------------------------------------------------------

struct ShowOptions {
    DatabaseOption db;
    std::int64_t id = 0;
    bool json = false;
};

void runShow(const ShowOptions& options)
{
    sp::RunStore store = openExistingStore(options.db);
    const sp::RunRecord run = store.run(options.id);
    const std::vector<sp::MetricSummary> curves = store.curveSummary(run.id);
    const std::vector<sp::CheckpointInfo> checkpoints = store.checkpoints(run.id);
    const std::size_t evaluations = store.evaluations(run.id).size();
    std::optional<int> contextTokens;
    if (run.contextId)
        contextTokens = store.contextTokenCount(*run.contextId, run.model.hash);

    if (options.json) {
        nlohmann::json json = runToJson(run);
        nlohmann::json curveList = nlohmann::json::array();
        for (const sp::MetricSummary& curve : curves)
            curveList.push_back({{"metric", curve.metric},
                                 {"points", curve.points},
                                 {"firstStep", curve.firstStep},
                                 {"lastStep", curve.lastStep},
                                 {"first", numberOrNull(curve.first)},
                                 {"last", numberOrNull(curve.last)},
                                 {"min", numberOrNull(curve.min)},
                                 {"minStep", curve.minStep},
                                 {"max", numberOrNull(curve.max)},
                                 {"maxStep", curve.maxStep}});
        json["curves"] = curveList;
        nlohmann::json checkpointList = nlohmann::json::array();
        for (const sp::CheckpointInfo& checkpoint : checkpoints)
            checkpointList.push_back({{"step", checkpoint.step}, {"bytes", checkpoint.bytes}});
        json["checkpoints"] = checkpointList;
        json["evaluations"] = evaluations;
        json["contextTokens"] = contextTokens ? nlohmann::json(*contextTokens) : nlohmann::json();
        spcli::printJson(json);
        return;
    }
    std::cout << "run " << run.id << (run.name.empty() ? "" : ": " + run.name) << "\n"
              << "  status      " << sp::runStatusKey(run.status) << "\n"
              << "  started     " << isoTime(run.startedAtMs) << "\n";
    if (run.endedAtMs > 0)
        std::cout << "  ended       " << isoTime(run.endedAtMs) << "\n";
    if (!run.error.empty())
        std::cout << "  error       " << run.error << "\n";
    std::cout << "  model       " << run.model.path
              << (run.model.hash.empty() ? "" : " (" + run.model.hash.substr(0, 12) + ")") << "\n"
              << "  device      " << run.device << "\n"
              << "  config      " << run.config.dump() << "\n";
    if (contextTokens)
        std::cout << "  context     " << *contextTokens << " tokens\n";
    if (!run.tags.empty()) {
        std::cout << "  tags       ";
        for (const std::string& tag : run.tags)
            std::cout << " " << tag;
        std::cout << "\n";
    }
    if (!run.notes.empty())
        std::cout << "  notes       " << run.notes << "\n";
    std::cout << "  curve       " << (curves.empty() ? "none" : "up to step " + std::to_string(run.lastStep))
              << "\n";
    if (!curves.empty()) {
        std::printf("    %-18s %7s %12s %12s %12s %8s\n", "METRIC", "POINTS", "FIRST", "LAST", "MIN",
                    "AT STEP");
        for (const sp::MetricSummary& curve : curves)
            std::printf("    %-18s %7d %12s %12s %12s %8d\n", curve.metric.c_str(), curve.points,
                        formatValue(curve.first).c_str(), formatValue(curve.last).c_str(),
                        formatValue(curve.min).c_str(), curve.minStep);
    }
    std::cout << "  checkpoints ";
    if (checkpoints.empty())
        std::cout << "none";
    for (const sp::CheckpointInfo& checkpoint : checkpoints)
        std::cout << checkpoint.step << " ";
    std::cout << "\n  evaluations " << evaluations << "\n";
}

// ---- runs export / import-peft / delete ----------------------------------------------------------

struct ExportOptions {
    DatabaseOption db;
    std::int64_t id = 0;
    std::string csv, sigma, peft;
    int step = -1;
};

void runExport(const ExportOptions& options)
{
    if (options.csv.empty() && options.sigma.empty() && options.peft.empty())
        throw sp::Error("runs export needs --csv FILE, --sigma FILE.safetensors or --peft DIR");
    sp::RunStore store = openExistingStore(options.db);
    const std::optional<int> step = options.step >= 0 ? std::optional<int>(options.step) : std::nullopt;
    store.run(options.id); // a clear error for an unknown id before any file is written
    if (!options.csv.empty()) {
        store.exportCurveCsv(options.id, options.csv);
        std::cout << "wrote the curve of run " << options.id << " to " << options.csv << "\n";
    }
    if (!options.sigma.empty()) {
        store.exportSigma(options.id, options.sigma, step);
        std::cout << "wrote σ of run " << options.id << " to " << options.sigma << "\n";
    }
    if (!options.peft.empty()) {
        store.exportPeft(options.id, options.peft, step);
        std::cout << "wrote a PEFT prompt-tuning adapter of run " << options.id << " to " << options.peft
                  << " (load it with PeftModel.from_pretrained(model, \"" << options.peft << "\"))\n";
    }
}

struct ImportOptions {
    DatabaseOption db;
    std::string directory;
    bool json = false;
};

void runImport(const ImportOptions& options)
{
    sp::RunStore store = openStore(options.db);
    const std::int64_t id = store.importPeft(options.directory);
    if (options.json)
        spcli::printJson(runToJson(store.run(id)));
    else
        std::cout << "imported " << options.directory << " as run " << id << "\n";
}

struct DeleteOptions {
    DatabaseOption db;
    std::int64_t id = 0;
};

void runDelete(const DeleteOptions& options)
{
    sp::RunStore store = openExistingStore(options.db);
    store.deleteRun(options.id);
    std::cout << "deleted run " << options.id << "\n";
}

// ---- bench store -----------------------------------------------------------------------------------

struct BenchOptions {
    int points = 100000;
    int metricsPerStep = 10;
    int curvePoints = 10000;
    int perStepCommitSteps = 200;
    int repeats = 20;
    std::string folder;
};

double secondsSince(std::chrono::steady_clock::time_point start)
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void runBench(const BenchOptions& options)
{
    if (options.points <= 0 || options.metricsPerStep <= 0 || options.curvePoints <= 0)
        throw sp::Error("bench store: --points, --metrics-per-step and --curve-points must be positive");
    const fs::path folder = options.folder.empty() ? fs::temp_directory_path() : fs::path(options.folder);
    const fs::path path = folder / ("softprompt-bench-store-" + std::to_string(::getpid()) + ".sqlite");
    const auto cleanup = [&] {
        for (const char* suffix : {"", "-wal", "-shm"}) {
            std::error_code ignored;
            fs::remove(path.string() + suffix, ignored);
        }
    };
    cleanup();
    nlohmann::json result;
    try {
        sp::RunStore store = sp::RunStore::open(path.string());
        sp::NewRun newRun;
        newRun.name = "bench";
        newRun.config = {{"k", 8}};
        newRun.device = "cpu";

        // Writing as the trainer does: every step hands its metrics to the writer, which commits them in
        // time-based batches (StoreOptions::flushIntervalMs), then once more at finish().
        const int steps = (options.points + options.metricsPerStep - 1) / options.metricsPerStep;
        std::vector<std::pair<std::string, double>> values(static_cast<std::size_t>(options.metricsPerStep));
        for (int m = 0; m < options.metricsPerStep; ++m)
            values[static_cast<std::size_t>(m)].first = "metric_" + std::to_string(m);
        auto start = std::chrono::steady_clock::now();
        auto writer = store.startRun(newRun);
        for (int step = 1; step <= steps; ++step) {
            for (int m = 0; m < options.metricsPerStep; ++m)
                values[static_cast<std::size_t>(m)].second = std::sin(step * 0.001 + m);
            writer->addMetrics(step, values);
        }
        writer->finish(sp::RunStatus::Finished);
        const double writeSeconds = secondsSince(start);
        const long long written = static_cast<long long>(steps) * options.metricsPerStep;
        result["write"] = {{"points", written},
                           {"steps", steps},
                           {"metrics_per_step", options.metricsPerStep},
                           {"seconds", writeSeconds},
                           {"points_per_second", written / writeSeconds},
                           {"transactions", writer->flushCount()},
                           {"flush_interval_ms", sp::StoreOptions().flushIntervalMs}};

        // The same points with one transaction per step (what the store never does), for the ratio.
        start = std::chrono::steady_clock::now();
        auto perStep = store.startRun(newRun);
        for (int step = 1; step <= options.perStepCommitSteps; ++step) {
            perStep->addMetrics(step, values);
            perStep->flush();
        }
        perStep->finish(sp::RunStatus::Finished);
        const double perStepSeconds = secondsSince(start);
        const double perStepRate =
            double(options.perStepCommitSteps) * options.metricsPerStep / perStepSeconds;
        result["write_one_transaction_per_step"] = {
            {"points", options.perStepCommitSteps * options.metricsPerStep},
            {"seconds", perStepSeconds},
            {"points_per_second", perStepRate}};
        result["batched_vs_per_step_speedup"] = (written / writeSeconds) / perStepRate;

        // Reading one curve of curvePoints points (a run of that many steps).
        auto curveWriter = store.startRun(newRun);
        for (int step = 1; step <= options.curvePoints; ++step)
            curveWriter->addMetric(step, sp::metric_key::TrainS, std::cos(step * 0.01));
        curveWriter->finish(sp::RunStatus::Finished);
        std::vector<double> milliseconds;
        std::size_t pointsRead = 0;
        for (int repeat = 0; repeat < std::max(1, options.repeats); ++repeat) {
            sp::RunStore reader = sp::RunStore::open(path.string()); // a fresh connection each time
            start = std::chrono::steady_clock::now();
            const sp::MetricCurve curve = reader.curve(curveWriter->runId(), sp::metric_key::TrainS);
            milliseconds.push_back(secondsSince(start) * 1000.0);
            pointsRead = curve.steps.size();
        }
        std::sort(milliseconds.begin(), milliseconds.end());
        result["read_curve"] = {{"points", pointsRead},
                                {"repeats", milliseconds.size()},
                                {"median_ms", milliseconds[milliseconds.size() / 2]},
                                {"min_ms", milliseconds.front()},
                                {"max_ms", milliseconds.back()}};
        result["file_bytes"] = fs::file_size(path);
    } catch (...) {
        cleanup();
        throw;
    }
    cleanup();
    result["bench"] = "store";
    result["sqlite_version"] = sqlite3_libversion();
    result["database_folder"] = folder.string();
    result["synchronous"] = "FULL (WAL)";
    spcli::printJson(result);
}

// ---- registration ------------------------------------------------------------------------------------

void registerRunsCommands(CLI::App& app)
{
    CLI::App* runs = app.add_subcommand("runs", "List, show, export, import and delete stored runs");
    runs->require_subcommand(1);

    {
        auto options = std::make_shared<ListOptions>();
        CLI::App* command = runs->add_subcommand("list", "List the stored runs, newest first");
        addDatabaseOption(*command, options->db);
        command->add_flag("--json", options->json, "Print JSON");
        command->add_option("--status", options->status,
                            "Only runs with this status (running, finished, ...)");
        command->add_option("--tag", options->tag, "Only runs with this tag");
        command->add_option("--search", options->search,
                            "Only runs whose name, notes, tags or model contain this");
        command->add_option("--limit", options->limit, "At most this many runs");
        command->callback([options] { runList(*options); });
    }
    {
        auto options = std::make_shared<ShowOptions>();
        CLI::App* command = runs->add_subcommand("show", "Show one run with its curve summary");
        command->add_option("id", options->id, "Run id (see `runs list`)")->required();
        addDatabaseOption(*command, options->db);
        command->add_flag("--json", options->json, "Print JSON");
        command->callback([options] { runShow(*options); });
    }
    {
        auto options = std::make_shared<ExportOptions>();
        CLI::App* command =
            runs->add_subcommand("export", "Export a run's curve (CSV), σ (safetensors) or a PEFT adapter");
        command->add_option("id", options->id, "Run id")->required();
        addDatabaseOption(*command, options->db);
        command->add_option("--csv", options->csv, "Write the curve as CSV (step, one column per metric)");
        command->add_option("--sigma", options->sigma, "Write σ as safetensors (prompt_embeddings [k, d])");
        command->add_option("--peft", options->peft, "Write a PEFT prompt-tuning adapter folder");
        command->add_option("--step", options->step,
                            "Checkpoint step for --sigma/--peft (default: the last)");
        command->callback([options] { runExport(*options); });
    }
    {
        auto options = std::make_shared<ImportOptions>();
        CLI::App* command =
            runs->add_subcommand("import-peft", "Import a PEFT prompt-tuning adapter folder as a run");
        command
            ->add_option("dir", options->directory,
                         "Folder with adapter_config.json and adapter_model.safetensors")
            ->required();
        addDatabaseOption(*command, options->db);
        command->add_flag("--json", options->json, "Print the new run as JSON");
        command->callback([options] { runImport(*options); });
    }
    {
        auto options = std::make_shared<DeleteOptions>();
        CLI::App* command =
            runs->add_subcommand("delete", "Delete a run with its curve, checkpoints and evaluations");
        command->add_option("id", options->id, "Run id")->required();
        addDatabaseOption(*command, options->db);
        command->callback([options] { runDelete(*options); });
    }
    {
        auto options = std::make_shared<BenchOptions>();
        CLI::App* bench = spcli::benchGroup(app).add_subcommand(
            "store",
            "Run store: write 100,000 metric points as the trainer does, read a 10,000-point curve (JSON)");
        bench->add_option("--points", options->points, "Metric points to write")->capture_default_str();
        bench->add_option("--metrics-per-step", options->metricsPerStep, "Metrics per step")
            ->capture_default_str();
        bench->add_option("--curve-points", options->curvePoints, "Points of the curve read back")
            ->capture_default_str();
        bench->add_option("--repeats", options->repeats, "Curve reads (the median is reported)")
            ->capture_default_str();
        bench->add_option("--dir", options->folder,
                          "Folder for the temporary database (default: the temp folder)");
        bench->callback([options] { runBench(*options); });
    }
}

} // namespace

SP_REGISTER_CLI_COMMANDS(40, registerRunsCommands);
