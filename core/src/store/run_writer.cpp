// Writing a run: buffered metrics committed in batches by time, σ checkpoints, the final status.
#include "store/schema.h"
#include "store/store_internal.h"

#include <cmath>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

namespace sp {

using store::Database;
using store::Statement;
using store::Transaction;

namespace {

struct MetricPoint {
    int step;
    std::string metric;
    double value;
};

} // namespace

struct RunWriter::Impl {
    Database database;
    StoreOptions options;
    std::int64_t runId = 0;

    // Guards `pending` and `backgroundError`; held only for moments, so the training thread never
    // waits for the disk.
    std::mutex bufferMutex;
    std::vector<MetricPoint> pending;
    std::string backgroundError; // a failed background flush, reported on the next call

    // Guards the connection and everything below.
    std::mutex databaseMutex;
    std::map<std::string, std::int64_t> metricIds;
    nlohmann::json lastMetrics = nlohmann::json::object(); // of committed points
    std::map<std::string, int> lastMetricSteps;
    int lastCommittedStep = 0;
    std::int64_t flushCount = 0;
    std::int64_t lastFlushMs = 0;
    std::int64_t lastHeartbeatMs = 0;
    bool finished = false;

    std::mutex wakeMutex;
    std::condition_variable wake;
    bool stopping = false;
    std::thread flusher;

    std::int64_t metricId(const std::string& name);
    // With databaseMutex held. Writes every pending point (and the heartbeat) inside the caller's
    // transaction; returns the points so a failed commit can put them back.
    std::vector<MetricPoint> writePending();
    void restore(std::vector<MetricPoint>&& points);
    void commitWith(const std::string& action, const std::function<void()>& extra);
    void throwBackgroundError();
    void backgroundLoop();
    void stopFlusher();
};

std::int64_t RunWriter::Impl::metricId(const std::string& name)
{
    if (auto found = metricIds.find(name); found != metricIds.end())
        return found->second;
    Statement insert(database, "INSERT OR IGNORE INTO metric_names(name) VALUES(?)");
    insert.bind(1, name).run();
    Statement select(database, "SELECT id FROM metric_names WHERE name = ?");
    select.bind(1, name);
    select.step();
    // Not cached until the transaction commits: a rollback would undo the insert.
    return select.integer(0);
}

std::vector<MetricPoint> RunWriter::Impl::writePending()
{
    std::vector<MetricPoint> batch;
    {
        std::lock_guard<std::mutex> lock(bufferMutex);
        batch.swap(pending);
    }
    try {
        std::map<std::string, std::int64_t> ids;
        Statement insert(database,
                         "INSERT OR REPLACE INTO metrics(run_id, metric_id, step, value) VALUES(?, ?, ?, ?)");
        for (const MetricPoint& point : batch) {
            auto found = ids.find(point.metric);
            if (found == ids.end())
                found = ids.emplace(point.metric, metricId(point.metric)).first;
            insert.bind(1, runId).bind(2, found->second).bind(3, point.step).bind(4, point.value).run();
            insert.reset();
        }
        nlohmann::json last = lastMetrics;
        int lastStep = lastCommittedStep;
        std::map<std::string, int> steps = lastMetricSteps;
        for (const MetricPoint& point : batch) {
            lastStep = std::max(lastStep, point.step);
            auto& known = steps[point.metric];
            if (point.step >= known) {
                known = point.step;
                last[point.metric] = std::isnan(point.value) ? nlohmann::json() : nlohmann::json(point.value);
            }
        }
        const std::int64_t now = store::nowMilliseconds();
        Statement update(database,
                         "UPDATE runs SET last_step = ?, last_metrics = ?, heartbeat_at = ? WHERE id = ?");
        update.bind(1, lastStep).bind(2, last.dump()).bind(3, now).bind(4, runId).run();
        if (database.changes() == 0)
            throw Error("run " + std::to_string(runId) + " was deleted from " + database.path() +
                        " while it was being written; its remaining results cannot be saved");
        return batch;
    } catch (...) {
        restore(std::move(batch));
        throw;
    }
}

void RunWriter::Impl::restore(std::vector<MetricPoint>&& points)
{
    if (points.empty())
        return;
    std::lock_guard<std::mutex> lock(bufferMutex);
    points.insert(points.end(), std::make_move_iterator(pending.begin()),
                  std::make_move_iterator(pending.end()));
    pending.swap(points);
}

// One transaction: the pending metrics, then `extra` (a checkpoint, the final status, ...). On any
// failure the metrics go back to the buffer, so nothing is lost.
void RunWriter::Impl::commitWith(const std::string& action, const std::function<void()>& extra)
{
    std::vector<MetricPoint> written;
    try {
        Transaction transaction(database, action);
        written = writePending();
        if (extra)
            extra();
        transaction.commit();
    } catch (...) {
        restore(std::move(written));
        throw;
    }
    // Committed: remember what the file now holds.
    for (const MetricPoint& point : written) {
        lastCommittedStep = std::max(lastCommittedStep, point.step);
        auto& known = lastMetricSteps[point.metric];
        if (point.step >= known) {
            known = point.step;
            lastMetrics[point.metric] =
                std::isnan(point.value) ? nlohmann::json() : nlohmann::json(point.value);
        }
    }
    if (!written.empty())
        ++flushCount;
    lastFlushMs = lastHeartbeatMs = store::nowMilliseconds();
    // Ids of metric names inserted by this transaction are now safe to cache.
    Statement names(database, "SELECT name, id FROM metric_names");
    while (names.step())
        metricIds[names.text(0)] = names.integer(1);
}

void RunWriter::Impl::throwBackgroundError()
{
    std::string message;
    {
        std::lock_guard<std::mutex> lock(bufferMutex);
        message.swap(backgroundError);
    }
    if (!message.empty())
        throw Error(message);
}

void RunWriter::Impl::backgroundLoop()
{
    for (;;) {
        {
            std::unique_lock<std::mutex> lock(wakeMutex);
            wake.wait_for(lock, std::chrono::milliseconds(std::max(10, options.flushIntervalMs / 4)),
                          [this] { return stopping; });
            if (stopping)
                return;
        }
        std::lock_guard<std::mutex> lock(databaseMutex);
        const std::int64_t now = store::nowMilliseconds();
        const int wakeIntervalMs = std::max(10, options.flushIntervalMs / 4);
        bool hasPending;
        {
            std::lock_guard<std::mutex> bufferLock(bufferMutex);
            hasPending = !pending.empty();
        }
        // Flushing one wake-up early keeps every point's time uncommitted within flushIntervalMs.
        const bool flushDue = hasPending && now - lastFlushMs + wakeIntervalMs >= options.flushIntervalMs;
        const bool heartbeatDue = now - lastHeartbeatMs >= options.heartbeatIntervalMs;
        if (finished || (!flushDue && !heartbeatDue))
            continue;
        try {
            commitWith("saving the curve", nullptr);
        } catch (const store::DatabaseError& error) {
            // Busy: another process is writing; the points stay buffered and the next round retries.
            if (!error.isBusy()) {
                std::lock_guard<std::mutex> bufferLock(bufferMutex);
                backgroundError = error.what();
            }
        } catch (const std::exception& error) {
            std::lock_guard<std::mutex> bufferLock(bufferMutex);
            backgroundError = error.what();
        }
    }
}

void RunWriter::Impl::stopFlusher()
{
    {
        std::lock_guard<std::mutex> lock(wakeMutex);
        stopping = true;
    }
    wake.notify_all();
    if (flusher.joinable())
        flusher.join();
}

RunWriter::RunWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl))
{
    impl_->lastFlushMs = impl_->lastHeartbeatMs = store::nowMilliseconds();
    impl_->flusher = std::thread([impl = impl_.get()] { impl->backgroundLoop(); });
}

RunWriter::~RunWriter()
{
    impl_->stopFlusher();
    if (!impl_->finished) {
        try {
            finish(RunStatus::Failed, "the program stopped recording this run without a final result");
        } catch (...) {
            // The run stays "running" with a dead writer: the next open marks it interrupted.
        }
    }
}

std::int64_t RunWriter::runId() const
{
    return impl_->runId;
}

void RunWriter::addMetric(int step, const std::string& metric, double value)
{
    impl_->throwBackgroundError();
    std::lock_guard<std::mutex> lock(impl_->bufferMutex);
    impl_->pending.push_back({step, metric, value});
}

void RunWriter::addMetrics(int step, const std::vector<std::pair<std::string, double>>& values)
{
    impl_->throwBackgroundError();
    std::lock_guard<std::mutex> lock(impl_->bufferMutex);
    for (const auto& [metric, value] : values)
        impl_->pending.push_back({step, metric, value});
}

void RunWriter::flush()
{
    std::lock_guard<std::mutex> lock(impl_->databaseMutex);
    {
        std::lock_guard<std::mutex> bufferLock(impl_->bufferMutex);
        impl_->backgroundError.clear(); // this attempt reports for itself
    }
    impl_->commitWith("saving the curve", nullptr);
}

void RunWriter::checkpoint(int step, const SoftPrompt& sigma)
{
    impl_->throwBackgroundError();
    const std::string bytes = softPromptToSafetensors(
        sigma, {{"run_id", std::to_string(impl_->runId)}, {"step", std::to_string(step)}});
    std::lock_guard<std::mutex> lock(impl_->databaseMutex);
    impl_->commitWith("saving a σ checkpoint", [&] {
        Statement insert(
            impl_->database,
            "INSERT OR REPLACE INTO checkpoints(run_id, step, sigma, created_at) VALUES(?, ?, ?, ?)");
        insert.bind(1, impl_->runId).bind(2, step).bindBlob(3, bytes).bind(4, store::nowMilliseconds()).run();
    });
}

void RunWriter::addEvaluations(const std::vector<StoredEvaluation>& evaluations)
{
    std::lock_guard<std::mutex> lock(impl_->databaseMutex);
    impl_->commitWith("saving evaluations",
                      [&] { store::insertEvaluations(impl_->database, impl_->runId, evaluations); });
}

void RunWriter::setSummary(const nlohmann::json& summary)
{
    std::lock_guard<std::mutex> lock(impl_->databaseMutex);
    impl_->commitWith("saving the run summary", [&] {
        Statement select(impl_->database, "SELECT summary FROM runs WHERE id = ?");
        select.bind(1, impl_->runId);
        nlohmann::json merged =
            select.step() ? store::parseStoredJson(select.text(0), "run summary") : nlohmann::json::object();
        merged.merge_patch(summary);
        Statement update(impl_->database, "UPDATE runs SET summary = ? WHERE id = ?");
        update.bind(1, merged.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace))
            .bind(2, impl_->runId);
        update.run();
    });
}

void RunWriter::finish(RunStatus status, const std::string& error)
{
    if (status == RunStatus::Running)
        throw Error("internal error: a run cannot finish with status running");
    impl_->stopFlusher();
    std::lock_guard<std::mutex> lock(impl_->databaseMutex);
    if (impl_->finished)
        return;
    impl_->commitWith("saving the run's result", [&] {
        Statement update(impl_->database, "UPDATE runs SET status = ?, ended_at = ?, error = ? WHERE id = ?");
        update.bind(1, runStatusKey(status))
            .bind(2, store::nowMilliseconds())
            .bind(3, error)
            .bind(4, impl_->runId);
        update.run();
    });
    impl_->finished = true;
}

int RunWriter::lastCommittedStep() const
{
    std::lock_guard<std::mutex> lock(impl_->databaseMutex);
    return impl_->lastCommittedStep;
}

std::int64_t RunWriter::flushCount() const
{
    std::lock_guard<std::mutex> lock(impl_->databaseMutex);
    return impl_->flushCount;
}

namespace store {

std::unique_ptr<RunWriter> makeRunWriter(const std::string& path, const StoreOptions& options,
                                         const NewRun& run)
{
    auto impl = std::make_unique<RunWriter::Impl>();
    impl->database = openStoreDatabase(path, options);
    impl->options = options;
    const ProcessIdentity self = currentProcess();
    const std::int64_t now = nowMilliseconds();
    Database& database = impl->database;
    Transaction transaction(database, "starting a run");
    Statement insert(database, R"sql(
        INSERT INTO runs(name, status, config, model_path, model_hash, model_summary, device, context_id,
                         query_set_id, sweep_id, started_at, notes, owner_pid, owner_host, owner_boot_id,
                         owner_pid_namespace, owner_start_ticks, heartbeat_at)
        VALUES(?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?))sql");
    const auto dump = [](const nlohmann::json& value) {
        return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    };
    insert.bind(1, run.name).bind(2, dump(run.config)).bind(3, run.model.path).bind(4, run.model.hash);
    insert.bind(5, dump(run.model.summary))
        .bind(6, run.device)
        .bind(7, run.contextId)
        .bind(8, run.querySetId);
    insert.bind(9, run.sweepId).bind(10, now).bind(11, run.notes).bind(12, self.pid).bind(13, self.host);
    insert.bind(14, self.bootId).bind(15, self.pidNamespace).bind(16, self.startTicks).bind(17, now);
    try {
        insert.run();
    } catch (const DatabaseError& error) {
        if ((error.code() & 0xff) == 19 /* SQLITE_CONSTRAINT */)
            throw Error("cannot start a run in " + path +
                        ": its context, query set or sweep id does not exist in that file (" + error.what() +
                        ")");
        throw;
    }
    impl->runId = database.lastInsertRowId();
    replaceTags(database, impl->runId, run.tags);
    if (run.promptFormat != "plain" && run.promptFormat != "chat")
        throw Error("unknown prompt format '" + run.promptFormat + "' for a new run; use plain or chat");
    Statement prompt(database, "INSERT INTO run_prompts(run_id, format, pieces) VALUES(?, ?, ?)");
    prompt.bind(1, impl->runId).bind(2, run.promptFormat).bind(3, dump(run.promptPieces)).run();
    transaction.commit();
    return std::make_unique<RunWriter>(std::move(impl));
}

} // namespace store
} // namespace sp
