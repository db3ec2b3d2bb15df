// Global run ids and `RunStore::merge`: the shards of a Slurm sweep (one run database per task)
// merged into one, with remapped local ids, idempotence, interrupted writers and unreadable shards.
#include "store_support/store_test_util.h"

#include "softprompt/error.h"
#include "softprompt/run_store.h"
#include "store/schema.h"

#include <QProcess>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>
#include <cstring>
#include <fstream>

using namespace storetest;

namespace {

const char* const kSweepUuid = "0b5c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3";

std::string fileIn(const QTemporaryDir& folder, const QString& name)
{
    return QDir(folder.path()).filePath(name).toStdString();
}

bool sameBits(const sp::SoftPrompt& a, const sp::SoftPrompt& b)
{
    return a.k == b.k && a.dim == b.dim && a.values.size() == b.values.size() &&
           std::memcmp(a.values.data(), b.values.data(), a.values.size() * sizeof(float)) == 0;
}

struct ShardRun {
    std::int64_t id = 0;
    std::string uuid;
};

// One shard as a Slurm task writes it: the sweep (by its global id), the context, the query set,
// one run with a curve of `steps` steps, σ checkpoints, two evaluations and tags.
ShardRun writeShard(const std::string& path, int k, int steps, const std::string& context = "the context c")
{
    sp::RunStore store = sp::RunStore::open(path);
    sp::NewRun run = exampleRun("k=" + std::to_string(k), k);
    run.contextId = store.putContext(context);
    run.querySetId = store.putQuerySet("queries", {{0, "q one", "a", false}, {0, "q two", "b", true}});
    run.sweepId = store.findOrCreateSweep(kSweepUuid, "grid sweep", {{"grid", "test"}}, run.contextId);
    run.tags = {"sweep", "k" + std::to_string(k)};
    // Trained in the chat format: the merged run must keep its format and rendered pieces.
    run.promptFormat = "chat";
    run.promptPieces = {{"format", "chat"}, {"pre", "<|im_start|>system\n"}, {"k", k}};
    auto writer = store.startRun(run);
    for (int step = 1; step <= steps; ++step)
        writer->addMetrics(step, {{metricName(0), metricValue(step, 0)}, {metricName(1), metricValue(step, 1)}});
    writer->checkpoint(steps / 2, sigmaForStep(steps / 2, k));
    writer->checkpoint(steps, sigmaForStep(steps, k));
    const std::vector<sp::StoredQuery> queries = store.querySet(*run.querySetId).queries;
    std::vector<sp::StoredEvaluation> evaluations(2);
    for (int i = 0; i < 2; ++i) {
        evaluations[i].queryId = queries[i].id;
        evaluations[i].query = queries[i].text;
        evaluations[i].heldOut = queries[i].heldOut;
        evaluations[i].condition = "sigma";
        evaluations[i].prediction = "p" + std::to_string(i);
        evaluations[i].s = 0.25 * (i + 1);
        evaluations[i].sigmaStep = steps;
    }
    writer->addEvaluations(evaluations);
    writer->setSummary({{"heldout_s", 0.5}});
    writer->finish(sp::RunStatus::Finished);
    store.setContextTokenCount(*run.contextId, run.model.hash, 120);
    const sp::RunRecord record = store.run(writer->runId());
    return {record.id, record.uuid};
}

// Every row of every table of the file, as text (rows sorted): equal text, equal data.
std::string contentOf(const std::string& path)
{
    sqlite3* handle = nullptr;
    if (sqlite3_open_v2(path.c_str(), &handle, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK)
        throw std::runtime_error("cannot open " + path);
    std::string content;
    for (const char* table : {"contexts", "context_token_counts", "query_sets", "queries", "runs", "metric_names",
                              "metrics", "checkpoints", "evaluations", "sweeps", "run_tags"}) {
        sqlite3_stmt* statement = nullptr;
        sqlite3_prepare_v2(handle, (std::string("SELECT * FROM ") + table).c_str(), -1, &statement, nullptr);
        std::vector<std::string> rows;
        while (sqlite3_step(statement) == SQLITE_ROW) {
            std::string row;
            for (int column = 0; column < sqlite3_column_count(statement); ++column) {
                const auto* bytes = static_cast<const char*>(sqlite3_column_blob(statement, column));
                row += std::string(bytes ? bytes : "<null>", bytes ? sqlite3_column_bytes(statement, column) : 6);
                row += '|';
            }
            rows.push_back(row);
        }
        sqlite3_finalize(statement);
        std::sort(rows.begin(), rows.end());
        content += std::string(table) + ": " + std::to_string(rows.size()) + " rows\n";
        for (const std::string& row : rows)
            content += row + "\n";
    }
    sqlite3_close_v2(handle);
    return content;
}

// A pid that is certainly not alive: a child that has exited and been reaped.
qint64 deadPid()
{
    QProcess child;
    child.start("true", {});
    child.waitForFinished();
    return child.processId() > 0 ? child.processId() : 999999;
}

} // namespace

class TestStoreMerge : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void runsAndSweepsGetGlobalIds()
    {
        QTemporaryDir folder;
        sp::RunStore store = sp::RunStore::open(fileIn(folder, "runs.sqlite"));
        const std::int64_t first = writeFinishedRunOf(store, "a");
        const std::int64_t second = writeFinishedRunOf(store, "b");
        const QRegularExpression uuid4("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
        const std::string a = store.run(first).uuid, b = store.run(second).uuid;
        QVERIFY2(uuid4.match(QString::fromStdString(a)).hasMatch(), a.c_str());
        QVERIFY2(uuid4.match(QString::fromStdString(b)).hasMatch(), b.c_str());
        QVERIFY(a != b);
        QCOMPARE(store.findRunByUuid(a), std::optional<std::int64_t>(first));
        QVERIFY(!store.findRunByUuid("00000000-0000-4000-8000-000000000000"));
        const std::int64_t sweep = store.createSweep("s", nlohmann::json::object());
        QVERIFY(uuid4.match(QString::fromStdString(store.sweep(sweep).uuid)).hasMatch());
        QVERIFY(uuid4.match(QString::fromStdString(sp::newGlobalId())).hasMatch());
        QVERIFY(sp::newGlobalId() != sp::newGlobalId());
        // findOrCreateSweep: one sweep per global id.
        const std::int64_t grid = store.findOrCreateSweep(kSweepUuid, "grid", nlohmann::json::object());
        QCOMPARE(store.findOrCreateSweep(kSweepUuid, "other name", nlohmann::json::object()), grid);
        QCOMPARE(store.sweep(grid).uuid, std::string(kSweepUuid));
    }

    void olderFileGetsGlobalIdsWhenOpened()
    {
        QTemporaryDir folder;
        const std::string path = fileIn(folder, "old.sqlite");
        {
            sp::store::Database old = sp::store::openStoreDatabase(path, {}, sp::store::kGlobalIdsSchemaVersion - 1);
            old.exec("INSERT INTO runs(status, config, model_path, model_hash, model_summary, device, started_at) "
                     "VALUES('finished', '{}', 'm', 'h', '{}', 'cpu', 1), "
                     "('finished', '{}', 'm', 'h', '{}', 'cpu', 2)",
                     "forging old runs");
        }
        sp::RunStore store = sp::RunStore::open(path);
        QCOMPARE(store.schemaVersion(), sp::RunStore::currentSchemaVersion());
        const std::vector<sp::RunRecord> runs = store.listRuns();
        QCOMPARE(runs.size(), std::size_t(2));
        QCOMPARE(runs[0].uuid.size(), std::size_t(36));
        QCOMPARE(runs[1].uuid.size(), std::size_t(36));
        QVERIFY(runs[0].uuid != runs[1].uuid);
    }

    void shardsArriveWithEverything()
    {
        QTemporaryDir folder;
        const std::string shardA = fileIn(folder, "task-0.sqlite"), shardB = fileIn(folder, "task-1.sqlite");
        const ShardRun a = writeShard(shardA, 2, 30);
        const ShardRun b = writeShard(shardB, 8, 40);
        QCOMPARE(a.id, std::int64_t(1));
        QCOMPARE(b.id, std::int64_t(1)); // both local ids clash

        sp::RunStore merged = sp::RunStore::open(fileIn(folder, "merged.sqlite"));
        const std::int64_t before = writeFinishedRunOf(merged, "already here"); // takes id 1 too
        const sp::MergeResult result = merged.merge({shardA, shardB});
        QCOMPARE(result.failedShards(), 0);
        QCOMPARE(result.runsAdded(), 2);
        QCOMPARE(result.shards[0].remappedIds.size(), std::size_t(1));
        QCOMPARE(result.shards[0].remappedIds[0].first, std::int64_t(1));

        const std::optional<std::int64_t> idA = merged.findRunByUuid(a.uuid), idB = merged.findRunByUuid(b.uuid);
        QVERIFY(idA && idB);
        QVERIFY(*idA != before && *idB != before && *idA != *idB);
        QCOMPARE(result.shards[0].remappedIds[0].second, *idA);

        // Curves, σ checkpoints, evaluations, tags, summary.
        for (const auto& [id, k, steps] : {std::tuple{*idA, 2, 30}, std::tuple{*idB, 8, 40}}) {
            const sp::RunRecord run = merged.run(id);
            QCOMPARE(run.status, sp::RunStatus::Finished);
            QCOMPARE(run.config.value("k", 0), k);
            QCOMPARE(run.lastStep, steps);
            const sp::MetricCurve curve = merged.curve(id, metricName(0));
            QCOMPARE(curve.steps.size(), std::size_t(steps));
            QCOMPARE(curve.values.back(), metricValue(steps, 0));
            QCOMPARE(merged.curve(id, metricName(1)).steps.size(), std::size_t(steps));
            QCOMPARE(merged.checkpoints(id).size(), std::size_t(2));
            QVERIFY(sameBits(merged.loadSigma(id), sigmaForStep(steps, k)));
            QVERIFY(sameBits(merged.loadSigma(id, steps / 2), sigmaForStep(steps / 2, k)));
            QCOMPARE(run.tags, (std::vector<std::string>{"k" + std::to_string(k), "sweep"}));
            QCOMPARE(run.summary.value("heldout_s", 0.0), 0.5);
            QCOMPARE(run.promptFormat, std::string("chat"));
            QCOMPARE(run.promptPieces.value("pre", std::string()), std::string("<|im_start|>system\n"));
            QCOMPARE(run.promptPieces.value("k", 0), k);
            const std::vector<sp::StoredEvaluation> evaluations = merged.evaluations(id);
            QCOMPARE(evaluations.size(), std::size_t(2));
            // The evaluation's query id points at this file's copy of the same query.
            const sp::QuerySetRecord queries = merged.querySet(*run.querySetId);
            QCOMPARE(evaluations[1].queryId, std::optional<std::int64_t>(queries.queries[1].id));
            QCOMPARE(queries.queries[1].text, std::string("q two"));
            QCOMPARE(merged.context(*run.contextId).text, std::string("the context c"));
            QCOMPARE(merged.contextTokenCount(*run.contextId, run.model.hash), std::optional<int>(120));
        }
        // One context, one query set, one sweep holding both runs.
        QCOMPARE(merged.listContexts().size(), std::size_t(1));
        QCOMPARE(merged.listQuerySets().size(), std::size_t(1));
        const std::optional<std::int64_t> sweep = merged.findSweepByUuid(kSweepUuid);
        QVERIFY(sweep);
        QCOMPARE(merged.sweep(*sweep).runIds, (std::vector<std::int64_t>{std::min(*idA, *idB), std::max(*idA, *idB)}));
        QCOMPARE(merged.sweepPoints(*sweep, metricName(0)).size(), std::size_t(2));
        QCOMPARE(merged.listSweeps().size(), std::size_t(1));
    }

    void mergingTwiceChangesNothing()
    {
        QTemporaryDir folder;
        const std::string shardA = fileIn(folder, "task-0.sqlite"), shardB = fileIn(folder, "task-1.sqlite");
        writeShard(shardA, 2, 10);
        writeShard(shardB, 4, 12, "another context");
        const std::string target = fileIn(folder, "merged.sqlite");
        sp::RunStore merged = sp::RunStore::open(target);
        QCOMPARE(merged.merge({shardA, shardB}).runsAdded(), 2);
        const std::string once = contentOf(target);
        const sp::MergeResult again = merged.merge({shardA, shardB, shardA});
        QCOMPARE(again.runsAdded(), 0);
        QCOMPARE(again.runsUpdated(), 0);
        QCOMPARE(again.runsUnchanged(), 3);
        QCOMPARE(contentOf(target), once);
        QCOMPARE(merged.listContexts().size(), std::size_t(2));
    }

    void killedWriterArrivesInterrupted()
    {
        QTemporaryDir folder;
        const std::string shard = fileIn(folder, "task-0.sqlite");
        const ShardRun run = writeShard(shard, 4, 20);
        {
            // As a task killed mid-run leaves it: still 'running', written by a process that is gone.
            RawDatabase raw(shard);
            raw.exec("UPDATE runs SET status = 'running', ended_at = NULL, owner_pid = " +
                     std::to_string(deadPid()) + ", owner_start_ticks = 0");
        }
        const std::string target = fileIn(folder, "merged.sqlite");
        sp::RunStore merged = sp::RunStore::open(target);
        const sp::MergeResult result = merged.merge({shard});
        QCOMPARE(result.runsAdded(), 1);
        QCOMPARE(result.shards[0].runsInterrupted, 1);
        const sp::RunRecord record = merged.run(*merged.findRunByUuid(run.uuid));
        QCOMPARE(record.status, sp::RunStatus::Interrupted);
        QVERIFY2(record.error.find("stopped before it finished") != std::string::npos, record.error.c_str());
        QCOMPARE(merged.curve(record.id, metricName(0)).steps.size(), std::size_t(20)); // its curve is kept

        // The task is rerun and finishes (the same run id in its shard): merging again updates it.
        {
            RawDatabase raw(shard);
            raw.exec("UPDATE runs SET status = 'finished', ended_at = 99, error = ''");
        }
        const sp::MergeResult again = merged.merge({shard});
        QCOMPARE(again.runsUpdated(), 1);
        const sp::RunRecord updated = merged.run(record.id); // same local id
        QCOMPARE(updated.uuid, run.uuid);
        QCOMPARE(updated.status, sp::RunStatus::Finished);
        QCOMPARE(merged.curve(record.id, metricName(0)).steps.size(), std::size_t(20));
        QCOMPARE(merged.listRuns().size(), std::size_t(1));
    }

    void runStillWrittenIsLeftForLater()
    {
        QTemporaryDir folder;
        const std::string shard = fileIn(folder, "task-0.sqlite");
        sp::RunStore source = sp::RunStore::open(shard);
        auto writer = source.startRun(exampleRun("live"));
        writer->addMetric(1, metricName(0), 1.0);
        writer->flush();
        sp::RunStore merged = sp::RunStore::open(fileIn(folder, "merged.sqlite"));
        const sp::MergeResult result = merged.merge({shard});
        QCOMPARE(result.runsStillRunning(), 1);
        QCOMPARE(result.runsAdded(), 0);
        QVERIFY(merged.listRuns().empty());
        writer->finish(sp::RunStatus::Finished);
        QCOMPARE(merged.merge({shard}).runsAdded(), 1);
    }

    void unreadableShardsAreReportedAndTheRestMerged_data()
    {
        QTest::addColumn<QString>("shardName");
        QTest::addColumn<QByteArray>("bytes"); // empty with createFile=false: no file at all
        QTest::addColumn<bool>("createFile");
        QTest::addColumn<QString>("expected");
        QTest::newRow("missing") << "task-9.sqlite" << QByteArray() << false << "no such file";
        QTest::newRow("empty (task killed at once)") << "task-9.sqlite" << QByteArray() << true << "empty file";
        QTest::newRow("not a database") << "task-9.sqlite" << QByteArray("hello, not sqlite at all; ") .repeated(8)
                                        << true << "not a SQLite database";
    }

    void unreadableShardsAreReportedAndTheRestMerged()
    {
        QFETCH(QString, shardName);
        QFETCH(QByteArray, bytes);
        QFETCH(bool, createFile);
        QFETCH(QString, expected);
        QTemporaryDir folder;
        const std::string good = fileIn(folder, "task-0.sqlite");
        writeShard(good, 2, 5);
        const std::string bad = fileIn(folder, shardName);
        if (createFile) {
            std::ofstream file(bad, std::ios::binary);
            file.write(bytes.constData(), bytes.size());
        }
        const std::string badBefore = createFile ? fileBytes(bad) : std::string();
        sp::RunStore merged = sp::RunStore::open(fileIn(folder, "merged.sqlite"));
        const sp::MergeResult result = merged.merge({bad, good});
        QCOMPARE(result.failedShards(), 1);
        QVERIFY2(result.shards[0].error.find(expected.toStdString()) != std::string::npos,
                 result.shards[0].error.c_str());
        QCOMPARE(result.runsAdded(), 1);
        QCOMPARE(merged.listRuns().size(), std::size_t(1));
        if (createFile)
            QCOMPARE(fileBytes(bad), badBefore); // left as it was
    }

    void mergingAFileIntoItselfIsRefused()
    {
        QTemporaryDir folder;
        const std::string path = fileIn(folder, "runs.sqlite");
        writeShard(path, 2, 5);
        sp::RunStore store = sp::RunStore::open(path);
        const sp::MergeResult result = store.merge({path});
        QCOMPARE(result.failedShards(), 1);
        QCOMPARE(store.listRuns().size(), std::size_t(1));
    }

private:
    static std::int64_t writeFinishedRunOf(sp::RunStore& store, const std::string& name)
    {
        auto writer = store.startRun(exampleRun(name));
        writer->addMetric(1, metricName(0), 1.0);
        writer->finish(sp::RunStatus::Finished);
        return writer->runId();
    }
};

QTEST_GUILESS_MAIN(TestStoreMerge)
#include "test_store_merge.moc"
