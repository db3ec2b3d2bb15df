// Reading runs back: curves, σ, evaluations, comparisons and sweeps.
#include "store/store_internal.h"

#include "softprompt/safetensors.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <unistd.h>

namespace fs = std::filesystem;

namespace sp {

using store::Database;
using store::Statement;
using store::Transaction;

namespace store {

void writeFileAtomically(const std::string& path, const std::string& bytes)
{
    const fs::path target = fs::absolute(path);
    std::error_code error;
    if (!target.parent_path().empty())
        fs::create_directories(target.parent_path(), error);
    const fs::path temporary = target.string() + ".tmp-" + std::to_string(getpid());
    {
        std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        out.flush();
        if (!out) {
            out.close();
            fs::remove(temporary, error);
            throw Error(fileError(path, "cannot be written (is the folder writable and the disk not full?)"));
        }
    }
    fs::rename(temporary, target, error);
    if (error) {
        fs::remove(temporary, error);
        throw Error(fileError(path, "cannot be replaced (" + error.message() + ")"));
    }
}

} // namespace store

std::vector<std::string> RunStore::metricNames(std::int64_t runId) const
{
    // In the order metrics were first used in this file (train_s before the rest, as the trainer
    // writes them), which is also the CSV's column order.
    Statement statement(impl_->database,
                        "SELECT n.name FROM metric_names AS n WHERE EXISTS(SELECT 1 FROM metrics "
                        "AS m WHERE m.run_id = ? AND m.metric_id = n.id) ORDER BY n.id");
    statement.bind(1, runId);
    std::vector<std::string> names;
    while (statement.step())
        names.push_back(statement.text(0));
    return names;
}

MetricCurve RunStore::curve(std::int64_t runId, const std::string& metric) const
{
    MetricCurve curve;
    curve.runId = runId;
    curve.metric = metric;
    Statement statement(impl_->database,
                        "SELECT step, value FROM metrics WHERE run_id = ? AND metric_id = (SELECT id FROM "
                        "metric_names WHERE name = ?) ORDER BY step");
    statement.bind(1, runId).bind(2, metric);
    while (statement.step()) {
        curve.steps.push_back(static_cast<int>(statement.integer(0)));
        curve.values.push_back(statement.real(1));
    }
    return curve;
}

std::vector<MetricCurve> RunStore::curves(const std::vector<std::int64_t>& runIds,
                                          const std::vector<std::string>& metrics) const
{
    std::vector<MetricCurve> result;
    for (std::int64_t runId : runIds)
        for (const std::string& metric : metrics) {
            MetricCurve one = curve(runId, metric);
            if (!one.steps.empty())
                result.push_back(std::move(one));
        }
    return result;
}

std::vector<MetricSummary> RunStore::curveSummary(std::int64_t runId) const
{
    store::requireRun(impl_->database, runId);
    std::vector<MetricSummary> summaries;
    for (const std::string& name : metricNames(runId)) {
        const MetricCurve points = curve(runId, name);
        MetricSummary summary;
        summary.metric = name;
        summary.points = static_cast<int>(points.steps.size());
        summary.firstStep = points.steps.front();
        summary.lastStep = points.steps.back();
        summary.first = points.values.front();
        summary.last = points.values.back();
        summary.min = summary.max = std::nan("");
        for (std::size_t i = 0; i < points.steps.size(); ++i) {
            const double value = points.values[i];
            if (std::isnan(value))
                continue;
            if (std::isnan(summary.min) || value < summary.min) {
                summary.min = value;
                summary.minStep = points.steps[i];
            }
            if (std::isnan(summary.max) || value > summary.max) {
                summary.max = value;
                summary.maxStep = points.steps[i];
            }
        }
        summaries.push_back(summary);
    }
    return summaries;
}

namespace {

std::string formatNumber(double value)
{
    if (std::isnan(value))
        return "nan";
    if (std::isinf(value))
        return value > 0 ? "inf" : "-inf";
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.17g", value); // round-trips a double exactly
    return buffer;
}

std::string csvField(const std::string& text)
{
    if (text.find_first_of(",\"\n\r") == std::string::npos)
        return text;
    std::string quoted = "\"";
    for (char c : text)
        quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    return quoted + "\"";
}

} // namespace

void RunStore::exportCurveCsv(std::int64_t runId, const std::string& path) const
{
    store::requireRun(impl_->database, runId);
    const std::vector<std::string> names = metricNames(runId);
    std::map<int, std::vector<std::optional<double>>> rows; // step -> one cell per metric
    for (std::size_t column = 0; column < names.size(); ++column) {
        const MetricCurve points = curve(runId, names[column]);
        for (std::size_t i = 0; i < points.steps.size(); ++i) {
            auto& row = rows[points.steps[i]];
            row.resize(names.size());
            row[column] = points.values[i];
        }
    }
    std::string csv = "step";
    for (const std::string& name : names)
        csv += "," + csvField(name);
    csv += "\n";
    for (const auto& [step, cells] : rows) {
        csv += std::to_string(step);
        for (const std::optional<double>& cell : cells)
            csv += "," + (cell ? formatNumber(*cell) : std::string());
        csv += "\n";
    }
    store::writeFileAtomically(path, csv);
}

// ---- σ ---------------------------------------------------------------------------------------------

std::vector<CheckpointInfo> RunStore::checkpoints(std::int64_t runId) const
{
    Statement statement(
        impl_->database,
        "SELECT step, length(sigma), created_at FROM checkpoints WHERE run_id = ? ORDER BY step");
    statement.bind(1, runId);
    std::vector<CheckpointInfo> infos;
    while (statement.step())
        infos.push_back({static_cast<int>(statement.integer(0)), statement.integer(1), statement.integer(2)});
    return infos;
}

std::string RunStore::sigmaSafetensors(std::int64_t runId, std::optional<int> step) const
{
    store::requireRun(impl_->database, runId);
    Statement statement(impl_->database,
                        step ? "SELECT sigma FROM checkpoints WHERE run_id = ? AND step = ?"
                             : "SELECT sigma FROM checkpoints WHERE run_id = ? ORDER BY step DESC LIMIT 1");
    statement.bind(1, runId);
    if (step)
        statement.bind(2, static_cast<std::int64_t>(*step));
    if (!statement.step()) {
        if (step)
            throw Error("run " + std::to_string(runId) + " has no σ checkpoint at step " +
                        std::to_string(*step) + "; `softprompt runs show " + std::to_string(runId) +
                        "` lists its checkpoints");
        throw Error("run " + std::to_string(runId) +
                    " has no σ checkpoint (it stopped before its first one); train it again");
    }
    return statement.blob(0);
}

SoftPrompt RunStore::loadSigma(std::int64_t runId, std::optional<int> step) const
{
    return softPromptFromSafetensors(sigmaSafetensors(runId, step),
                                     impl_->path + " run " + std::to_string(runId) + " σ checkpoint");
}

void RunStore::exportSigma(std::int64_t runId, const std::string& path, std::optional<int> step) const
{
    store::writeFileAtomically(path, sigmaSafetensors(runId, step));
}

// ---- evaluations -----------------------------------------------------------------------------------

std::vector<StoredEvaluation> RunStore::evaluations(std::int64_t runId) const
{
    Statement statement(
        impl_->database,
        "SELECT id, run_id, query_id, query, target, held_out, condition, prediction, s, top_k, "
        "details, sigma_step FROM evaluations WHERE run_id = ? ORDER BY id");
    statement.bind(1, runId);
    std::vector<StoredEvaluation> result;
    while (statement.step()) {
        StoredEvaluation evaluation;
        evaluation.id = statement.integer(0);
        evaluation.runId = statement.integer(1);
        evaluation.queryId = statement.optionalInteger(2);
        evaluation.query = statement.text(3);
        evaluation.target = statement.text(4);
        evaluation.heldOut = statement.integer(5) != 0;
        evaluation.condition = statement.text(6);
        evaluation.prediction = statement.text(7);
        evaluation.s = statement.real(8);
        const std::string what = "evaluation " + std::to_string(evaluation.id);
        evaluation.topK = store::topKFromJson(store::parseStoredJson(statement.text(9), what + " top-k"));
        evaluation.details = store::parseStoredJson(statement.text(10), what + " details");
        evaluation.sigmaStep = static_cast<int>(statement.integer(11));
        result.push_back(std::move(evaluation));
    }
    return result;
}

// ---- comparison and sweeps -------------------------------------------------------------------------

namespace {

nlohmann::json comparable(const RunStore& store, const RunRecord& run)
{
    nlohmann::json value;
    value["config"] = run.config;
    value["model"] = {{"path", run.model.path}, {"hash", run.model.hash}, {"summary", run.model.summary}};
    value["device"] = run.device;
    value["context"] = run.contextId ? nlohmann::json(store.context(*run.contextId).hash) : nlohmann::json();
    value["querySet"] =
        run.querySetId ? nlohmann::json(store.querySet(*run.querySetId).hash) : nlohmann::json();
    return value;
}

} // namespace

std::vector<ConfigDifference> RunStore::diffRuns(std::int64_t leftRunId, std::int64_t rightRunId) const
{
    // Flattened to JSON pointers, so a nested change names exactly the field that differs.
    const nlohmann::json left = comparable(*this, run(leftRunId)).flatten();
    const nlohmann::json right = comparable(*this, run(rightRunId)).flatten();
    std::map<std::string, ConfigDifference> differences;
    for (const auto& [key, value] : left.items())
        if (!right.contains(key) || right.at(key) != value)
            differences[key] = {key, value, right.contains(key) ? right.at(key) : nlohmann::json()};
    for (const auto& [key, value] : right.items())
        if (!left.contains(key))
            differences[key] = {key, nlohmann::json(), value};
    std::vector<ConfigDifference> result;
    for (auto& [key, difference] : differences)
        result.push_back(std::move(difference));
    return result;
}

std::int64_t RunStore::createSweep(const std::string& name, const nlohmann::json& baseConfig,
                                   std::optional<std::int64_t> contextId, const std::string& notes)
{
    Statement statement(impl_->database,
                        "INSERT INTO sweeps(name, created_at, context_id, base_config, notes) "
                        "VALUES(?, ?, ?, ?, ?)");
    statement.bind(1, name).bind(2, store::nowMilliseconds()).bind(3, contextId).bind(4, baseConfig.dump());
    statement.bind(5, notes).run();
    return impl_->database.lastInsertRowId();
}

namespace {

SweepRecord readSweep(Database& database, Statement& row)
{
    SweepRecord sweep;
    sweep.id = row.integer(0);
    sweep.name = row.text(1);
    sweep.createdAtMs = row.integer(2);
    sweep.contextId = row.optionalInteger(3);
    sweep.baseConfig = store::parseStoredJson(row.text(4), "sweep " + std::to_string(sweep.id) + " config");
    sweep.notes = row.text(5);
    sweep.uuid = row.text(6);
    Statement runs(database, "SELECT id FROM runs WHERE sweep_id = ? ORDER BY id");
    runs.bind(1, sweep.id);
    while (runs.step())
        sweep.runIds.push_back(runs.integer(0));
    return sweep;
}

} // namespace

SweepRecord RunStore::sweep(std::int64_t id) const
{
    Statement statement(
        impl_->database,
        "SELECT id, name, created_at, context_id, base_config, notes, uuid FROM sweeps WHERE id = ?");
    statement.bind(1, id);
    if (!statement.step())
        throw Error("no sweep " + std::to_string(id) + " in " + impl_->path);
    return readSweep(impl_->database, statement);
}

std::vector<SweepRecord> RunStore::listSweeps() const
{
    Statement statement(
        impl_->database,
        "SELECT id, name, created_at, context_id, base_config, notes, uuid FROM sweeps ORDER BY id");
    std::vector<SweepRecord> sweeps;
    while (statement.step())
        sweeps.push_back(readSweep(impl_->database, statement));
    return sweeps;
}

std::vector<StoredSweepPoint> RunStore::sweepPoints(std::int64_t sweepId, const std::string& metric) const
{
    std::vector<StoredSweepPoint> points;
    for (std::int64_t runId : sweep(sweepId).runIds) {
        const RunRecord record = run(runId);
        StoredSweepPoint point;
        point.runId = runId;
        point.k = record.config.value("k", 0);
        point.status = record.status;
        if (record.contextId)
            point.contextTokens = contextTokenCount(*record.contextId, record.model.hash).value_or(0);
        if (point.contextTokens > 0 && point.k > 0)
            point.compressionRatio = double(point.contextTokens) / point.k;
        const MetricCurve values = curve(runId, metric);
        for (std::size_t i = 0; i < values.values.size(); ++i) {
            const double value = values.values[i];
            point.last = value;
            if (std::isnan(value))
                continue;
            point.min = point.hasValue ? std::min(point.min, value) : value;
            point.max = point.hasValue ? std::max(point.max, value) : value;
            point.hasValue = true;
        }
        points.push_back(point);
    }
    std::stable_sort(points.begin(), points.end(),
                     [](const StoredSweepPoint& a, const StoredSweepPoint& b) { return a.k < b.k; });
    return points;
}

} // namespace sp
