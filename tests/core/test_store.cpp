// The run store's API: contexts, query sets, runs, batched curves, σ checkpoints, evaluations,
// listing, editing, deleting, comparing and sweeps.
#include "store_support/store_test_util.h"

#include "softprompt/error.h"
#include "softprompt/run_store.h"
#include "softprompt/safetensors.h"

#include <QTemporaryDir>
#include <QtTest>

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <thread>

using namespace storetest;

namespace {

std::string databaseIn(const QTemporaryDir& folder, const char* name = "runs.sqlite")
{
    return QDir(folder.path()).filePath(name).toStdString();
}

bool sameBits(const sp::SoftPrompt& a, const sp::SoftPrompt& b)
{
    return a.k == b.k && a.dim == b.dim && a.values.size() == b.values.size() &&
           std::memcmp(a.values.data(), b.values.data(), a.values.size() * sizeof(float)) == 0;
}

// Writes `steps` steps of `metrics` metrics through a writer and finishes it.
std::int64_t writeFinishedRun(sp::RunStore& store, const sp::NewRun& newRun, int steps, int metrics = 2)
{
    auto writer = store.startRun(newRun);
    for (int step = 1; step <= steps; ++step)
        for (int m = 0; m < metrics; ++m)
            writer->addMetric(step, metricName(m), metricValue(step, m));
    writer->checkpoint(steps, sigmaForStep(steps));
    writer->finish(sp::RunStatus::Finished);
    return writer->runId();
}

} // namespace

class TestStore : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void freshFileGetsCurrentSchemaInWalMode()
    {
        QTemporaryDir folder;
        const std::string path = QDir(folder.path()).filePath("new/sub/runs.sqlite").toStdString();
        {
            sp::RunStore store = sp::RunStore::open(path);
            QCOMPARE(store.schemaVersion(), sp::RunStore::currentSchemaVersion());
            QCOMPARE(store.path(), path);
        }
        RawDatabase raw(path);
        QCOMPARE(raw.text("PRAGMA journal_mode"), std::string("wal"));
        QCOMPARE(raw.integer("PRAGMA user_version"), (long long)sp::RunStore::currentSchemaVersion());
        QCOMPARE(raw.integer("PRAGMA application_id"), 0x53505742LL);
    }

    void foreignKeysAreEnforced()
    {
        QTemporaryDir folder;
        sp::RunStore store = sp::RunStore::open(databaseIn(folder));
        sp::NewRun run = exampleRun("dangling");
        run.contextId = 4242; // no such context
        QVERIFY_THROWS_EXCEPTION(sp::Error, store.startRun(run));
        QVERIFY(store.listRuns().empty());
    }

    void contextsAreDeduplicatedAndCountTokensPerModel()
    {
        QTemporaryDir folder;
        sp::RunStore store = sp::RunStore::open(databaseIn(folder));
        const std::int64_t a = store.putContext("You are a terse assistant.");
        const std::int64_t again = store.putContext("You are a terse assistant.");
        const std::int64_t b = store.putContext("You are a verbose assistant.");
        QCOMPARE(again, a);
        QVERIFY(b != a);
        QCOMPARE(store.context(b).text, std::string("You are a verbose assistant."));
        QCOMPARE(store.listContexts().size(), std::size_t(2));
        store.setContextTokenCount(a, "gpt2-hash", 7);
        store.setContextTokenCount(a, "llama-hash", 9);
        store.setContextTokenCount(a, "gpt2-hash", 6); // recounted
        QCOMPARE(store.contextTokenCount(a, "gpt2-hash").value_or(-1), 6);
        QCOMPARE(store.contextTokenCount(a, "llama-hash").value_or(-1), 9);
        QVERIFY(!store.contextTokenCount(b, "gpt2-hash"));
        QVERIFY_THROWS_EXCEPTION(sp::Error, store.context(999));
    }

    void querySetsKeepOrderTargetsAndHeldOut()
    {
        QTemporaryDir folder;
        sp::RunStore store = sp::RunStore::open(databaseIn(folder));
        const std::vector<sp::StoredQuery> queries = {{0, "What is 2+2?", "4", false},
                                                      {0, "Name a colour.", "", false},
                                                      {0, "Capital of France?", "Paris", true}};
        const std::int64_t id = store.putQuerySet("arithmetic", queries);
        QCOMPARE(store.putQuerySet("same queries, other name", queries), id);
        auto reordered = queries;
        std::swap(reordered[0], reordered[1]);
        QVERIFY(store.putQuerySet("reordered", reordered) != id);
        const sp::QuerySetRecord set = store.querySet(id);
        QCOMPARE(set.name, std::string("arithmetic"));
        QCOMPARE(set.queries.size(), queries.size());
        for (std::size_t i = 0; i < queries.size(); ++i) {
            QCOMPARE(set.queries[i].text, queries[i].text);
            QCOMPARE(set.queries[i].target, queries[i].target);
            QCOMPARE(set.queries[i].heldOut, queries[i].heldOut);
            QVERIFY(set.queries[i].id > 0);
        }
        QCOMPARE(store.listQuerySets().size(), std::size_t(2));
    }

    void runRecordsEverythingItWasGiven()
    {
        QTemporaryDir folder;
        sp::RunStore store = sp::RunStore::open(databaseIn(folder));
        sp::NewRun newRun = exampleRun("first");
        newRun.contextId = store.putContext("context text");
        newRun.querySetId =
            store.putQuerySet("q", {{0, "query one", "", false}, {0, "query two", "t", true}});
        newRun.tags = {" beta", "alpha", "beta", ""};
        newRun.notes = "a note";
        auto writer = store.startRun(newRun);
        const std::int64_t id = writer->runId();

        sp::RunRecord running = store.run(id);
        QCOMPARE(running.status, sp::RunStatus::Running);
        QCOMPARE(running.owner.pid, (std::int64_t)getpid());
        QVERIFY(store.isWriterAlive(running));
        QCOMPARE(running.tags, (std::vector<std::string>{"alpha", "beta"}));
        QCOMPARE(running.config, newRun.config);
        QCOMPARE(running.model.summary, newRun.model.summary);

        writer->addMetrics(1, {{sp::metric_key::TrainS, 2.5}, {sp::metric_key::LearningRate, 0.001}});
        writer->addMetrics(2, {{sp::metric_key::TrainS, 2.0}, {sp::metric_key::HeldoutS, 2.2}});
        writer->checkpoint(2, sigmaForStep(2));
        const sp::QuerySetRecord set = store.querySet(*newRun.querySetId);
        sp::StoredEvaluation evaluation;
        evaluation.queryId = set.queries[1].id;
        evaluation.query = "query two";
        evaluation.target = "t";
        evaluation.heldOut = true;
        evaluation.condition = "sigma";
        evaluation.prediction = " Paris";
        evaluation.s = 0.125;
        evaluation.topK = {{11, " Paris", 0.75}, {12, " Lyon", 0.125}};
        evaluation.details = {{"kl", 0.125}, {"top1_agrees", true}, {"per_token_divergence", {0.1, 0.2}}};
        evaluation.sigmaStep = 2;
        writer->addEvaluations({evaluation});
        writer->setSummary({{"final_train_s", 2.0}, {"heldout", {{"s", 2.2}}}});
        writer->setSummary({{"heldout", {{"top1", 0.5}}}}); // merged, not replaced
        writer->finish(sp::RunStatus::Finished);

        const sp::RunRecord done = store.run(id);
        QCOMPARE(done.status, sp::RunStatus::Finished);
        QVERIFY(done.endedAtMs >= done.startedAtMs && done.startedAtMs > 0);
        QCOMPARE(done.lastStep, 2);
        QCOMPARE(done.lastMetrics.value(sp::metric_key::TrainS, 0.0), 2.0);
        QCOMPARE(done.lastMetrics.value(sp::metric_key::LearningRate, 0.0), 0.001);
        QCOMPARE(done.lastCheckpointStep.value_or(-1), 2);
        QCOMPARE(done.summary["heldout"]["s"].get<double>(), 2.2);
        QCOMPARE(done.summary["heldout"]["top1"].get<double>(), 0.5);
        QCOMPARE(done.contextId, newRun.contextId);
        QCOMPARE(done.notes, std::string("a note"));
        QVERIFY(!store.isWriterAlive(done));

        const auto evaluations = store.evaluations(id);
        QCOMPARE(evaluations.size(), std::size_t(1));
        QCOMPARE(evaluations[0].queryId, evaluation.queryId);
        QCOMPARE(evaluations[0].prediction, evaluation.prediction);
        QCOMPARE(evaluations[0].s, evaluation.s);
        QCOMPARE(evaluations[0].topK.size(), std::size_t(2));
        QCOMPARE(evaluations[0].topK[0].text, std::string(" Paris"));
        QCOMPARE(evaluations[0].topK[1].probability, 0.125);
        QCOMPARE(evaluations[0].details, evaluation.details);
        QCOMPARE(evaluations[0].sigmaStep, 2);
        QVERIFY(sameBits(store.loadSigma(id), sigmaForStep(2)));
    }

    void metricsAreCommittedInBatches_data()
    {
        QTest::addColumn<int>("steps");
        QTest::addColumn<int>("metricsPerStep");
        QTest::newRow("2000 steps x 1") << 2000 << 1;
        QTest::newRow("1000 steps x 6") << 1000 << 6;
        QTest::newRow("5 steps x 3") << 5 << 3;
    }
    void metricsAreCommittedInBatches()
    {
        QFETCH(int, steps);
        QFETCH(int, metricsPerStep);
        QTemporaryDir folder;
        sp::RunStore store = sp::RunStore::open(databaseIn(folder));
        auto writer = store.startRun(exampleRun("batched"));
        const auto start = std::chrono::steady_clock::now();
        for (int step = 1; step <= steps; ++step) {
            std::vector<std::pair<std::string, double>> values;
            for (int m = 0; m < metricsPerStep; ++m)
                values.emplace_back(metricName(m), metricValue(step, m));
            writer->addMetrics(step, values);
        }
        writer->finish(sp::RunStatus::Finished);
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        // Time-based batching: about one transaction per flush interval (1 s), plus the final one.
        QVERIFY2(writer->flushCount() <= 2 + static_cast<std::int64_t>(seconds / 0.75),
                 qPrintable(QString("%1 transactions in %2 s").arg(writer->flushCount()).arg(seconds)));
        QVERIFY(writer->flushCount() >= 1);
        QCOMPARE(store.metricNames(writer->runId()).size(), std::size_t(metricsPerStep));
        for (int m = 0; m < metricsPerStep; ++m) {
            const sp::MetricCurve curve = store.curve(writer->runId(), metricName(m));
            QCOMPARE(curve.steps.size(), std::size_t(steps));
            for (int step = 1; step <= steps; ++step) {
                QCOMPARE(curve.steps[step - 1], step);
                QCOMPARE(curve.values[step - 1], metricValue(step, m));
            }
        }
    }

    void backgroundFlushCommitsWithinTheInterval()
    {
        QTemporaryDir folder;
        sp::StoreOptions options;
        options.flushIntervalMs = 200;
        sp::RunStore store = sp::RunStore::open(databaseIn(folder), options);
        auto writer = store.startRun(exampleRun("timed"));
        sp::RunStore reader = sp::RunStore::open(databaseIn(folder)); // like the GUI watching a CLI run
        writer->addMetric(1, sp::metric_key::TrainS, 1.5);
        writer->addMetric(2, sp::metric_key::TrainS, 1.25);
        const auto added = std::chrono::steady_clock::now();
        // No flush() call: the writer's own timer must commit it.
        while (reader.curve(writer->runId(), sp::metric_key::TrainS).steps.size() < 2) {
            QVERIFY2(std::chrono::steady_clock::now() - added < std::chrono::seconds(3),
                     "points were not committed by the background flush");
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        QCOMPARE(writer->lastCommittedStep(), 2);
        QCOMPARE(reader.run(writer->runId()).lastStep, 2);
        writer->finish(sp::RunStatus::Cancelled);
        QCOMPARE(reader.run(writer->runId()).status, sp::RunStatus::Cancelled);
    }

    void specialValuesRoundTrip()
    {
        QTemporaryDir folder;
        sp::RunStore store = sp::RunStore::open(databaseIn(folder));
        auto writer = store.startRun(exampleRun("nan"));
        const double values[] = {std::nan(""), INFINITY, -INFINITY, -0.0, 5e-324, 1.7976931348623157e308};
        for (int i = 0; i < 6; ++i)
            writer->addMetric(i + 1, "s", values[i]);
        writer->finish(sp::RunStatus::Failed, "NaN in training at step 1");
        const sp::MetricCurve curve = store.curve(writer->runId(), "s");
        QCOMPARE(curve.values.size(), std::size_t(6));
        QVERIFY(std::isnan(curve.values[0]));
        // Exact (SQLite keeps all 64 bits; only the sign of -0.0 is not kept, and -0.0 == 0.0).
        for (int i = 1; i < 6; ++i)
            QVERIFY2(curve.values[i] == values[i], qPrintable(QString::number(i)));
        QCOMPARE(store.run(writer->runId()).error, std::string("NaN in training at step 1"));
    }

    void checkpointsKeepEveryStepAndLoadTheLast()
    {
        QTemporaryDir folder;
        sp::RunStore store = sp::RunStore::open(databaseIn(folder));
        auto writer = store.startRun(exampleRun("checkpoints"));
        const std::int64_t id = writer->runId();
        QVERIFY_THROWS_EXCEPTION(sp::Error, store.loadSigma(id)); // none yet
        writer->checkpoint(10, sigmaForStep(10));
        writer->checkpoint(20, sigmaForStep(19));
        writer->checkpoint(20, sigmaForStep(20)); // the same step again replaces it
        const auto infos = store.checkpoints(id);
        QCOMPARE(infos.size(), std::size_t(2));
        QCOMPARE(infos[0].step, 10);
        QCOMPARE(infos[1].step, 20);
        QVERIFY(infos[1].bytes > 4 * 8 * 4);
        QVERIFY(sameBits(store.loadSigma(id), sigmaForStep(20)));
        QVERIFY(sameBits(store.loadSigma(id, 10), sigmaForStep(10)));
        QVERIFY_THROWS_EXCEPTION(sp::Error, store.loadSigma(id, 15));

        // The exported file is the stored safetensors, readable as a PEFT-layout tensor.
        const std::string file = databaseIn(folder, "sigma.safetensors");
        store.exportSigma(id, file);
        QCOMPARE(fileBytes(file), store.sigmaSafetensors(id));
        const auto safetensors = sp::SafetensorsFile::open(file);
        QCOMPARE(safetensors->tensor("prompt_embeddings").shape, (std::vector<std::int64_t>{4, 8}));
        QCOMPARE(safetensors->metadata().at("format"), std::string("pt"));
        writer->finish(sp::RunStatus::Finished);
    }

    void unfinishedWriterIsRecordedAsFailed()
    {
        QTemporaryDir folder;
        sp::RunStore store = sp::RunStore::open(databaseIn(folder));
        std::int64_t id = 0;
        {
            auto writer = store.startRun(exampleRun("abandoned"));
            id = writer->runId();
            writer->addMetric(1, "s", 1.0);
        }
        const sp::RunRecord record = store.run(id);
        QCOMPARE(record.status, sp::RunStatus::Failed);
        QVERIFY(!record.error.empty());
        QCOMPARE(store.curve(id, "s").steps.size(), std::size_t(1)); // buffered point saved on the way out
    }

    void listRunsFilters_data()
    {
        QTest::addColumn<QString>("filterName");
        QTest::addColumn<QStringList>("expected"); // run names, newest first
        QTest::newRow("all") << "all" << QStringList{"delta", "gamma", "beta", "alpha"};
        QTest::newRow("text in name") << "text:alp" << QStringList{"alpha"};
        QTest::newRow("text in notes") << "text:MIDDLE" << QStringList{"beta"};
        QTest::newRow("text in tag") << "text:sweep" << QStringList{"gamma", "beta"};
        QTest::newRow("text with wildcard characters") << "text:50%" << QStringList{"delta"};
        QTest::newRow("status") << "status:failed" << QStringList{"gamma"};
        QTest::newRow("tag") << "tag:baseline" << QStringList{"alpha"};
        QTest::newRow("model") << "model:other" << QStringList{"delta"};
        QTest::newRow("limit and offset") << "page" << QStringList{"gamma", "beta"};
        QTest::newRow("oldest first") << "oldest" << QStringList{"alpha", "beta", "gamma", "delta"};
    }
    void listRunsFilters()
    {
        QFETCH(QString, filterName);
        QFETCH(QStringList, expected);
        QTemporaryDir folder;
        sp::RunStore store = sp::RunStore::open(databaseIn(folder));
        const auto add = [&](const char* name, std::vector<std::string> tags, const char* notes,
                             sp::RunStatus status, const char* modelHash) {
            sp::NewRun run = exampleRun(name);
            run.tags = std::move(tags);
            run.notes = notes;
            run.model.hash = modelHash;
            auto writer = store.startRun(run);
            writer->finish(status);
            std::this_thread::sleep_for(std::chrono::milliseconds(3)); // distinct start times
        };
        add("alpha", {"baseline"}, "", sp::RunStatus::Finished, "c0ffee");
        add("beta", {"sweep-a"}, "in the middle", sp::RunStatus::Finished, "c0ffee");
        add("gamma", {"sweep-a", "x"}, "", sp::RunStatus::Failed, "c0ffee");
        add("delta", {}, "k=2 is 50% smaller", sp::RunStatus::Cancelled, "other");

        sp::RunFilter filter;
        const QString kind = filterName.section(':', 0, 0);
        const std::string argument = filterName.section(':', 1).toStdString();
        if (kind == "text")
            filter.text = argument;
        else if (kind == "status")
            filter.status = sp::runStatusFromKey(argument);
        else if (kind == "tag")
            filter.tag = argument;
        else if (kind == "model")
            filter.modelHash = argument;
        else if (kind == "page") {
            filter.limit = 2;
            filter.offset = 1;
        } else if (kind == "oldest")
            filter.newestFirst = false;
        QStringList names;
        for (const sp::RunRecord& run : store.listRuns(filter))
            names << QString::fromStdString(run.name);
        QCOMPARE(names, expected);
    }

    void tagsNotesAndNamesCanBeEdited()
    {
        QTemporaryDir folder;
        sp::RunStore store = sp::RunStore::open(databaseIn(folder));
        const std::int64_t a = writeFinishedRun(store, exampleRun("a"), 3);
        const std::int64_t b = writeFinishedRun(store, exampleRun("b"), 3);
        store.setTags(a, {"good", " keep ", "good"});
        store.setTags(b, {"bad"});
        store.setNotes(a, "best so far");
        store.setName(b, "renamed");
        QCOMPARE(store.run(a).tags, (std::vector<std::string>{"good", "keep"}));
        QCOMPARE(store.allTags(), (std::vector<std::string>{"bad", "good", "keep"}));
        QCOMPARE(store.run(a).notes, std::string("best so far"));
        QCOMPARE(store.run(b).name, std::string("renamed"));
        store.setTags(b, {});
        QCOMPARE(store.allTags(), (std::vector<std::string>{"good", "keep"}));
        try {
            store.setNotes(999, "x");
            QFAIL("expected sp::Error");
        } catch (const sp::Error& error) {
            QVERIFY(QString(error.what()).contains("no run 999"));
        }
        QVERIFY_THROWS_EXCEPTION(sp::Error, store.setTags(999, {"x"}));
    }

    void deleteRemovesTheRunAndOnlyIt()
    {
        QTemporaryDir folder;
        const std::string path = databaseIn(folder);
        sp::RunStore store = sp::RunStore::open(path);
        sp::NewRun newRun = exampleRun("doomed");
        newRun.tags = {"t"};
        const std::int64_t doomed = writeFinishedRun(store, newRun, 50, 3);
        const std::int64_t kept = writeFinishedRun(store, exampleRun("kept"), 40, 2);
        store.deleteRun(doomed);
        QVERIFY(!store.findRun(doomed));
        QVERIFY_THROWS_EXCEPTION(sp::Error, store.run(doomed));
        RawDatabase raw(path);
        QCOMPARE(raw.integer("SELECT COUNT(*) FROM metrics WHERE run_id = " + std::to_string(doomed)), 0LL);
        QCOMPARE(raw.integer("SELECT COUNT(*) FROM checkpoints WHERE run_id = " + std::to_string(doomed)),
                 0LL);
        QCOMPARE(raw.integer("SELECT COUNT(*) FROM run_tags WHERE run_id = " + std::to_string(doomed)), 0LL);
        QCOMPARE(raw.integer("SELECT COUNT(*) FROM metrics WHERE run_id = " + std::to_string(kept)), 80LL);
        QVERIFY_THROWS_EXCEPTION(sp::Error, store.deleteRun(doomed));

        // A run that is still being written (here, by this very process) is refused.
        auto writer = store.startRun(exampleRun("live"));
        try {
            store.deleteRun(writer->runId());
            QFAIL("expected sp::Error");
        } catch (const sp::Error& error) {
            QVERIFY(QString(error.what()).contains("still being written"));
        }
        writer->finish(sp::RunStatus::Cancelled);
        store.deleteRun(writer->runId());
        QCOMPARE(store.listRuns().size(), std::size_t(1));
    }

    // `softprompt eval --run` evaluates a finished run later: its rows are added (or replace the
    // earlier ones) in one transaction, never to a run that is still being written.
    void evaluationsCanBeAddedToAFinishedRun()
    {
        QTemporaryDir folder;
        sp::RunStore store = sp::RunStore::open(databaseIn(folder));
        sp::NewRun newRun = exampleRun("evaluated later");
        newRun.querySetId =
            store.putQuerySet("q", {{0, "query one", "", false}, {0, "query two", "t", true}});
        const std::int64_t id = writeFinishedRun(store, newRun, 10);
        const std::int64_t other = writeFinishedRun(store, exampleRun("other"), 5);
        const sp::QuerySetRecord set = store.querySet(*newRun.querySetId);
        auto row = [&](std::size_t query, const std::string& condition, double s) {
            sp::StoredEvaluation evaluation;
            evaluation.runId = other; // ignored: the run is the one named in the call
            evaluation.queryId = set.queries[query].id;
            evaluation.query = set.queries[query].text;
            evaluation.target = set.queries[query].target;
            evaluation.heldOut = set.queries[query].heldOut;
            evaluation.condition = condition;
            evaluation.prediction = " answer " + condition;
            evaluation.s = s;
            evaluation.topK = {{3, " answer", 0.5}};
            evaluation.details = {{"kl", s / 2}};
            evaluation.sigmaStep = condition == "sigma" ? 10 : 0;
            return evaluation;
        };
        QVERIFY(store.evaluations(id).empty());
        store.addEvaluations(id, {row(0, "full", 0.0), row(0, "sigma", 0.25)});
        store.addEvaluations(id, {row(1, "sigma", 0.5)});
        std::vector<sp::StoredEvaluation> stored = store.evaluations(id);
        QCOMPARE(stored.size(), std::size_t(3));
        QCOMPARE(stored[0].runId, id);
        QCOMPARE(stored[1].condition, std::string("sigma"));
        QCOMPARE(stored[1].s, 0.25);
        QCOMPARE(stored[1].sigmaStep, 10);
        QCOMPARE(stored[2].queryId, set.queries[1].id);
        QVERIFY(stored[2].heldOut);
        QCOMPARE(stored[2].details, row(1, "sigma", 0.5).details);
        QVERIFY(store.evaluations(other).empty());

        // A re-evaluation replaces the run's rows and leaves the other run's alone.
        store.addEvaluations(other, {row(0, "none", 2.0)});
        store.addEvaluations(id, {row(0, "sigma", 0.125), row(1, "sigma", 0.375)}, true);
        stored = store.evaluations(id);
        QCOMPARE(stored.size(), std::size_t(2));
        QCOMPARE(stored[0].s, 0.125);
        QCOMPARE(stored[1].s, 0.375);
        QCOMPARE(store.evaluations(other).size(), std::size_t(1));

        QVERIFY_THROWS_EXCEPTION(sp::Error, store.addEvaluations(id + 100, {row(0, "sigma", 0.1)}));
        auto writer = store.startRun(exampleRun("live"));
        try {
            store.addEvaluations(writer->runId(), {row(0, "sigma", 0.1)});
            QFAIL("expected sp::Error");
        } catch (const sp::Error& error) {
            QVERIFY2(QString(error.what()).contains("still being written"), error.what());
        }
        QVERIFY(store.evaluations(writer->runId()).empty());
        writer->finish(sp::RunStatus::Cancelled);
        store.addEvaluations(writer->runId(), {row(0, "sigma", 0.1)});
        QCOMPARE(store.evaluations(writer->runId()).size(), std::size_t(1));
    }

    void curvesOfSeveralRunsAndTheirSummary()
    {
        QTemporaryDir folder;
        sp::RunStore store = sp::RunStore::open(databaseIn(folder));
        const std::int64_t a = writeFinishedRun(store, exampleRun("a"), 30, 1);
        auto writer = store.startRun(exampleRun("b"));
        const double values[] = {3.0, 1.0, 2.0, 0.5, 4.0};
        for (int i = 0; i < 5; ++i) {
            writer->addMetric(i + 1, sp::metric_key::TrainS, values[i]);
            if (i % 2 == 0)
                writer->addMetric(i + 1, sp::metric_key::HeldoutS, values[i] + 1);
        }
        writer->finish(sp::RunStatus::Finished);
        const std::int64_t b = writer->runId();

        const auto curves = store.curves({a, b}, {sp::metric_key::TrainS, sp::metric_key::HeldoutS});
        QCOMPARE(curves.size(), std::size_t(3)); // a has no held-out curve
        QCOMPARE(curves[0].runId, a);
        QCOMPARE(curves[0].steps.size(), std::size_t(30));
        QCOMPARE(curves[1].runId, b);
        QCOMPARE(curves[2].metric, std::string(sp::metric_key::HeldoutS));
        QCOMPARE(curves[2].steps, (std::vector<int>{1, 3, 5}));

        const auto summary = store.curveSummary(b);
        QCOMPARE(summary.size(), std::size_t(2));
        const sp::MetricSummary& train = summary[0];
        QCOMPARE(train.metric, std::string(sp::metric_key::TrainS));
        QCOMPARE(train.points, 5);
        QCOMPARE(train.first, 3.0);
        QCOMPARE(train.last, 4.0);
        QCOMPARE(train.min, 0.5);
        QCOMPARE(train.minStep, 4);
        QCOMPARE(train.max, 4.0);
        QCOMPARE(train.maxStep, 5);
    }

    void csvExportIsWideAndExact()
    {
        QTemporaryDir folder;
        sp::RunStore store = sp::RunStore::open(databaseIn(folder));
        auto writer = store.startRun(exampleRun("csv"));
        writer->addMetrics(1, {{"train_s", 0.1}, {"heldout_s", 1.0 / 3.0}});
        writer->addMetrics(2, {{"train_s", 2e-9}});
        writer->finish(sp::RunStatus::Finished);
        const std::string path = databaseIn(folder, "out/curve.csv");
        store.exportCurveCsv(writer->runId(), path);
        std::ifstream file(path);
        std::string header, first, second, extra;
        std::getline(file, header);
        std::getline(file, first);
        std::getline(file, second);
        QCOMPARE(header, std::string("step,train_s,heldout_s"));
        const QStringList cells = QString::fromStdString(first).split(',');
        QCOMPARE(cells.size(), 3);
        QCOMPARE(cells[0], QString("1"));
        QCOMPARE(cells[1].toDouble(), 0.1);
        QCOMPARE(cells[2].toDouble(), 1.0 / 3.0); // %.17g round-trips the double
        QCOMPARE(QString::fromStdString(second), QString("2,2.0000000000000001e-09,"));
        QVERIFY(!std::getline(file, extra));
    }

    void diffNamesExactlyWhatDiffers()
    {
        QTemporaryDir folder;
        sp::RunStore store = sp::RunStore::open(databaseIn(folder));
        const std::int64_t a = writeFinishedRun(store, exampleRun("a"), 2);
        sp::NewRun other = exampleRun("b");
        other.config["learningRate"] = 0.05;
        other.config["initText"] = "hello";
        other.model.hash = "beef";
        const std::int64_t b = writeFinishedRun(store, other, 2);
        const std::int64_t c = writeFinishedRun(store, exampleRun("c"), 5);

        const auto differences = store.diffRuns(a, b);
        QCOMPARE(differences.size(), std::size_t(3));
        QCOMPARE(differences[0].key, std::string("/config/initText"));
        QVERIFY(differences[0].left.is_null());
        QCOMPARE(differences[0].right.get<std::string>(), std::string("hello"));
        QCOMPARE(differences[1].key, std::string("/config/learningRate"));
        QCOMPARE(differences[1].left.get<double>(), 0.01);
        QCOMPARE(differences[1].right.get<double>(), 0.05);
        QCOMPARE(differences[2].key, std::string("/model/hash"));
        QVERIFY(store.diffRuns(a, c).empty()); // name and curve are not configuration
        QVERIFY_THROWS_EXCEPTION(sp::Error, store.diffRuns(a, 999));
    }

    void sweepPointsGiveFidelityAgainstCompression()
    {
        QTemporaryDir folder;
        sp::RunStore store = sp::RunStore::open(databaseIn(folder));
        const std::int64_t contextId = store.putContext("a long context");
        store.setContextTokenCount(contextId, "c0ffee", 64);
        const std::int64_t sweepId = store.createSweep("k sweep", {{"steps", 100}}, contextId, "overnight");
        for (int k : {8, 2, 4}) {
            sp::NewRun run = exampleRun("k=" + std::to_string(k), k);
            run.sweepId = sweepId;
            run.contextId = contextId;
            auto writer = store.startRun(run);
            writer->addMetric(1, sp::metric_key::HeldoutS, 10.0 / k + 1);
            writer->addMetric(2, sp::metric_key::HeldoutS, 10.0 / k);
            writer->finish(sp::RunStatus::Finished);
        }
        writeFinishedRun(store, exampleRun("not in the sweep"), 2);
        const sp::SweepRecord sweep = store.sweep(sweepId);
        QCOMPARE(sweep.runIds.size(), std::size_t(3));
        QCOMPARE(sweep.notes, std::string("overnight"));
        QCOMPARE(store.listSweeps().size(), std::size_t(1));
        sp::RunFilter filter;
        filter.sweepId = sweepId;
        QCOMPARE(store.listRuns(filter).size(), std::size_t(3));

        const auto points = store.sweepPoints(sweepId, sp::metric_key::HeldoutS);
        QCOMPARE(points.size(), std::size_t(3));
        const int ks[] = {2, 4, 8};
        for (int i = 0; i < 3; ++i) {
            QCOMPARE(points[i].k, ks[i]);
            QCOMPARE(points[i].contextTokens, 64);
            QCOMPARE(points[i].compressionRatio, 64.0 / ks[i]);
            QVERIFY(points[i].hasValue);
            QCOMPARE(points[i].last, 10.0 / ks[i]);
            QCOMPARE(points[i].max, 10.0 / ks[i] + 1);
        }
        QVERIFY(!store.sweepPoints(sweepId, "no_such_metric")[0].hasValue);
    }

    void writersOnSeveralThreadsShareTheFile()
    {
        QTemporaryDir folder;
        const std::string path = databaseIn(folder);
        sp::StoreOptions options;
        options.flushIntervalMs = 50;
        sp::RunStore store = sp::RunStore::open(path, options);
        constexpr int steps = 400;
        std::vector<std::int64_t> ids(3);
        std::vector<std::thread> threads;
        for (int t = 0; t < 3; ++t)
            threads.emplace_back([&, t] {
                sp::RunStore own = sp::RunStore::open(path, options); // each thread its own connection
                auto writer = own.startRun(exampleRun("thread " + std::to_string(t)));
                ids[t] = writer->runId();
                for (int step = 1; step <= steps; ++step) {
                    writer->addMetrics(step, {{"a", metricValue(step, t)}, {"b", metricValue(step, t + 1)}});
                    if (step % 100 == 0)
                        writer->checkpoint(step, sigmaForStep(step));
                    if (step % 40 == 0)
                        std::this_thread::sleep_for(std::chrono::milliseconds(2));
                }
                writer->finish(sp::RunStatus::Finished);
            });
        // Meanwhile this thread edits and lists, as the runs browser does.
        for (int i = 0; i < 30; ++i) {
            for (const sp::RunRecord& run : store.listRuns())
                store.setNotes(run.id, "seen " + std::to_string(i));
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
        for (std::thread& thread : threads)
            thread.join();
        for (int t = 0; t < 3; ++t) {
            const sp::MetricCurve a = store.curve(ids[t], "a");
            QCOMPARE(a.steps.size(), std::size_t(steps));
            QCOMPARE(a.values.back(), metricValue(steps, t));
            QCOMPARE(store.run(ids[t]).status, sp::RunStatus::Finished);
            QCOMPARE(store.checkpoints(ids[t]).size(), std::size_t(4));
        }
        QCOMPARE(integrityCheck(path), std::string("ok"));
    }
};

QTEST_GUILESS_MAIN(TestStore)
#include "test_store.moc"
