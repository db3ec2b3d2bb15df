// The training session (core/src/session/README.md), driven directly on a random model folder
// loaded the way the front ends load one: what is trained, evaluated and stored for a finished run,
// a cancel before the first step and after some steps, a failed run, a sweep, and a run store that
// cannot be used.
#ifndef Q_MOC_RUN // moc needs none of these; following them into torch took it ~10 s a test
#include "test_model_folder.h"

#include "softprompt/error.h"
#include "softprompt/run_store.h"
#include "softprompt/training_session.h"
#endif

#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <string>
#include <vector>

namespace {

sp::TrainConfig sessionConfig()
{
    sp::TrainConfig config = enginetest::fastConfig();
    config.steps = 12;
    config.evalInterval = 4;
    config.checkpointInterval = 6;
    config.batchSize = 4;
    return config;
}

std::vector<sp::Query> sessionQueries()
{
    std::vector<sp::Query> queries = enginetest::tinyQueries(8);
    queries[6].heldOut = true;
    queries[7].heldOut = true;
    return queries;
}

} // namespace

class TestTrainingSession : public QObject {
    Q_OBJECT
private:
    QTemporaryDir folder_;
    sp::ModelHandle model_;
    int databases_ = 0;

    std::string freshDatabase() { return folder_.filePath(QString("runs%1.sqlite").arg(++databases_)).toStdString(); }

    sp::CompressionTask task() const
    {
        return sp::CompressionTask(model_, enginetest::tinyContext(), sessionQueries());
    }

    sp::TrainingPlan plan(const std::string& database) const
    {
        sp::TrainingPlan plan;
        plan.config = sessionConfig();
        plan.databasePath = database;
        plan.runName = "session";
        plan.querySetName = "tiny";
        return plan;
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(folder_.isValid());
        const QString modelFolder = folder_.filePath("model");
        QDir().mkpath(modelFolder);
        enginetest::writeModelFolder(modelFolder);
        model_ = sp::ModelHandle::load(modelFolder.toStdString(), {});
    }

    // Rules 2, 3 and 5: the run is started, the baselines come before the first step, σ is
    // evaluated after the last, and σ, every evaluation row and the summary are stored.
    void finishedRunRecordsEverything()
    {
        const std::string database = freshDatabase();
        sp::CompressionTask task = this->task();
        std::vector<std::string> events;
        std::int64_t startedRunId = -1;
        sp::TrainingProgress progress;
        progress.onRunStarted = [&](std::int64_t runId, int sweepIndex, int k) {
            startedRunId = runId;
            QCOMPARE(sweepIndex, 0);
            QCOMPARE(k, 4);
            events.push_back("started");
        };
        progress.onBaselines = [&](const sp::Evaluation& baselines) {
            QCOMPARE(int(baselines.queries.size()), 8);
            for (const sp::ConditionOutcome& outcome : baselines.queries[0].outcomes)
                QVERIFY(outcome.condition != sp::Condition::SoftPrompt);
            events.push_back("baselines");
        };
        progress.onStep = [&](const sp::StepReport& report) {
            if (report.step == 1)
                events.push_back("first step");
        };
        sp::SessionControl control;
        const sp::SessionOutcome outcome = sp::runTrainingSession(task, plan(database), progress, control);

        QVERIFY2(outcome.storeError.empty(), outcome.storeError.c_str());
        QCOMPARE(int(outcome.runs.size()), 1);
        const sp::RunOutcome& run = outcome.runs[0];
        QCOMPARE(run.status, sp::RunStatus::Finished);
        QCOMPARE(run.result.stepsCompleted, 12);
        QVERIFY(run.runId > 0);
        QCOMPARE(startedRunId, run.runId);
        QCOMPARE(events, (std::vector<std::string>{"started", "baselines", "first step"}));
        QVERIFY(run.evaluated);
        const int conditions = int(sp::allConditions().size());
        for (const sp::QueryEvaluation& query : run.evaluation.queries)
            QCOMPARE(int(query.outcomes.size()), conditions);

        const sp::RunStore store = sp::RunStore::open(database);
        const sp::RunRecord record = store.run(run.runId);
        QCOMPARE(record.status, sp::RunStatus::Finished);
        QCOMPARE(record.name, std::string("session"));
        QCOMPARE(int(store.curve(run.runId, sp::metric_key::TrainS).values.size()), 12);
        QCOMPARE(int(store.curve(run.runId, sp::metric_key::HeldoutS).values.size()), 3);
        const std::vector<sp::CheckpointInfo> checkpoints = store.checkpoints(run.runId);
        QCOMPARE(int(checkpoints.size()), 2); // step 6 (interval) and step 12 (the last σ)
        QCOMPARE(checkpoints.back().step, 12);
        QVERIFY(store.loadSigma(run.runId).values == run.result.sigma.values);
        const std::vector<sp::StoredEvaluation> rows = store.evaluations(run.runId);
        QCOMPARE(int(rows.size()), 8 * conditions);
        for (const sp::StoredEvaluation& row : rows)
            QCOMPARE(row.sigmaStep, row.condition == "sigma" ? 12 : 0);
        QCOMPARE(record.summary["status"].get<std::string>(), std::string("finished"));
        QCOMPARE(record.summary["heldout_s"].get<double>(), run.summary["heldout_s"].get<double>());
    }

    // σ evaluated alone and merged into the baselines is exactly σ evaluated with every condition:
    // the same outcomes and the same bootstrap intervals (seeded per condition).
    void mergedEvaluationEqualsAFullEvaluation()
    {
        sp::CompressionTask task = this->task();
        sp::SessionControl control;
        const sp::SessionOutcome outcome = sp::runTrainingSession(task, plan({}), {}, control);
        QCOMPARE(int(outcome.runs.size()), 1);
        const sp::RunOutcome& run = outcome.runs[0];
        QCOMPARE(run.runId, std::int64_t(0)); // no database: nothing recorded, and no complaint
        QVERIFY(outcome.storeError.empty());
        const sp::Evaluation full = task.evaluate(run.result.sigma, run.config);
        QCOMPARE(run.evaluation.queries.size(), full.queries.size());
        for (std::size_t q = 0; q < full.queries.size(); ++q) {
            QCOMPARE(run.evaluation.queries[q].outcomes.size(), full.queries[q].outcomes.size());
            for (std::size_t c = 0; c < full.queries[q].outcomes.size(); ++c) {
                const sp::ConditionOutcome& merged = run.evaluation.queries[q].outcomes[c];
                const sp::ConditionOutcome& direct = full.queries[q].outcomes[c];
                QCOMPARE(merged.condition, direct.condition);
                QCOMPARE(merged.prediction, direct.prediction);
                QCOMPARE(merged.s, direct.s); // the same computation: bit for bit on the CPU
            }
        }
        for (const auto& [mergedSplit, directSplit] :
             {std::pair(&run.evaluation.heldout, &full.heldout), std::pair(&run.evaluation.train, &full.train)}) {
            QCOMPARE(mergedSplit->size(), directSplit->size());
            for (std::size_t c = 0; c < directSplit->size(); ++c) {
                QCOMPARE((*mergedSplit)[c].condition, (*directSplit)[c].condition);
                QCOMPARE((*mergedSplit)[c].s.low, (*directSplit)[c].s.low);
                QCOMPARE((*mergedSplit)[c].s.high, (*directSplit)[c].s.high);
            }
        }
    }

    void mergeRefusesEvaluationsOfOtherQueries()
    {
        sp::Evaluation baselines, sigma, merged;
        baselines.queries.resize(2);
        sigma.queries.resize(1);
        QVERIFY(!sp::mergeEvaluations(baselines, sigma, &merged));
        sigma.queries.resize(2);
        sigma.queries[1].query = "another query";
        QVERIFY(!sp::mergeEvaluations(baselines, sigma, &merged));
        sigma.queries[1].query.clear();
        QVERIFY(sp::mergeEvaluations(baselines, sigma, &merged));
    }

    // Rule 4: a cancel before the first step (while the teacher is computed, or right after the
    // baselines) stores no σ and no evaluation, and the run is marked cancelled.
    void cancelBeforeTheFirstStepStoresNothing_data()
    {
        QTest::addColumn<bool>("duringTeacherPhase");
        QTest::newRow("during the teacher phase") << true;
        QTest::newRow("after the baselines") << false;
    }
    void cancelBeforeTheFirstStepStoresNothing()
    {
        QFETCH(bool, duringTeacherPhase);
        const std::string database = freshDatabase();
        sp::CompressionTask task = this->task();
        sp::SessionControl control;
        int steps = 0;
        sp::TrainingProgress progress;
        progress.onPhase = [&](const std::string& phase, double) {
            if (duringTeacherPhase && phase == "computing the teacher")
                control.cancel.store(true);
        };
        progress.onBaselines = [&](const sp::Evaluation&) {
            if (!duringTeacherPhase)
                control.cancel.store(true);
        };
        progress.onStep = [&](const sp::StepReport&) { ++steps; };
        const sp::SessionOutcome outcome = sp::runTrainingSession(task, plan(database), progress, control);
        QCOMPARE(int(outcome.runs.size()), 1);
        const sp::RunOutcome& run = outcome.runs[0];
        QCOMPARE(run.status, sp::RunStatus::Cancelled);
        QCOMPARE(steps, 0);
        QCOMPARE(run.result.stepsCompleted, 0);
        QVERIFY(!run.evaluated);
        QCOMPARE(run.message, std::string("stopped at step 0 of 12"));

        const sp::RunStore store = sp::RunStore::open(database);
        const sp::RunRecord record = store.run(run.runId);
        QCOMPARE(record.status, sp::RunStatus::Cancelled);
        QCOMPARE(record.error, run.message);
        QVERIFY(store.checkpoints(run.runId).empty());
        QVERIFY(store.evaluations(run.runId).empty());
        QCOMPARE(record.summary["steps"].get<int>(), 0);
        QVERIFY(!record.summary.contains("heldout_s"));
    }

    // Rule 3: a cancel after some steps keeps σ, evaluates it and stores it at the step it reached.
    void cancelAfterStepsEvaluatesTheLastSigma()
    {
        const std::string database = freshDatabase();
        sp::CompressionTask task = this->task();
        sp::SessionControl control;
        sp::TrainingProgress progress;
        progress.onStep = [&](const sp::StepReport& report) {
            if (report.step == 3)
                control.cancel.store(true);
        };
        const sp::SessionOutcome outcome = sp::runTrainingSession(task, plan(database), progress, control);
        const sp::RunOutcome& run = outcome.runs.at(0);
        QCOMPARE(run.status, sp::RunStatus::Cancelled);
        QCOMPARE(run.result.stepsCompleted, 3);
        QVERIFY(run.evaluated);
        const sp::RunStore store = sp::RunStore::open(database);
        QCOMPARE(store.checkpoints(run.runId).back().step, 3);
        int sigmaRows = 0;
        for (const sp::StoredEvaluation& row : store.evaluations(run.runId))
            if (row.condition == "sigma") {
                QCOMPARE(row.sigmaStep, 3);
                ++sigmaRows;
            }
        QCOMPARE(sigmaRows, 8);
        QCOMPARE(store.run(run.runId).error, std::string("stopped at step 3 of 12"));
    }

    // Rule 3 with the front end closing: what trained is stored, σ is not evaluated.
    void skipEvaluationStoresSigmaOnly()
    {
        const std::string database = freshDatabase();
        sp::CompressionTask task = this->task();
        sp::SessionControl control;
        sp::TrainingProgress progress;
        progress.onStep = [&](const sp::StepReport& report) {
            if (report.step == 2) {
                control.skipEvaluation.store(true);
                control.cancel.store(true);
            }
        };
        const sp::SessionOutcome outcome = sp::runTrainingSession(task, plan(database), progress, control);
        const sp::RunOutcome& run = outcome.runs.at(0);
        QCOMPARE(run.status, sp::RunStatus::Cancelled);
        QVERIFY(!run.evaluated);
        const sp::RunStore store = sp::RunStore::open(database);
        QCOMPARE(store.checkpoints(run.runId).back().step, 2);
        QVERIFY(store.evaluations(run.runId).empty());
    }

    // Rules 6 and 7: a failed k is an outcome, not an exception, and the sweep stops there.
    void failedRunStopsTheSweep()
    {
        const std::string database = freshDatabase();
        sp::CompressionTask task = this->task();
        sp::TrainingPlan sweep = plan(database);
        sweep.config.learningRate = INFINITY; // the first update is not finite
        sweep.config.warmupSteps = 0;
        sweep.sweepKs = {2, 4};
        sweep.sweepName = "sweep 2,4";
        sp::SessionControl control;
        const sp::SessionOutcome outcome = sp::runTrainingSession(task, sweep, {}, control);
        QCOMPARE(int(outcome.runs.size()), 1);
        QCOMPARE(outcome.status(), sp::RunStatus::Failed);
        QVERIFY(outcome.sweepId > 0);
        const sp::RunOutcome& run = outcome.runs[0];
        QVERIFY2(QString::fromStdString(run.message).contains("step 1"), run.message.c_str());
        const sp::RunStore store = sp::RunStore::open(database);
        const sp::RunRecord record = store.run(run.runId);
        QCOMPARE(record.status, sp::RunStatus::Failed);
        QCOMPARE(record.name, std::string("session, k=2"));
        QCOMPARE(record.sweepId, std::optional<std::int64_t>(outcome.sweepId));
        QVERIFY(store.checkpoints(run.runId).empty());
        QCOMPARE(int(store.listRuns().size()), 1);
    }

    // Rule 1: every k is validated before anything is recorded.
    void sweepValidatesEveryKFirst()
    {
        const std::string database = freshDatabase();
        sp::CompressionTask task = this->task();
        sp::TrainingPlan sweep = plan(database);
        sweep.sweepKs = {2, 5000};
        sp::SessionControl control;
        int started = 0;
        sp::TrainingProgress progress;
        progress.onRunStarted = [&](std::int64_t, int, int) { ++started; };
        QVERIFY_THROWS_EXCEPTION(sp::Error, sp::runTrainingSession(task, sweep, progress, control));
        QCOMPARE(started, 0);
        QVERIFY(!QFile::exists(QString::fromStdString(database))); // not even opened
    }

    // Rule 8: a database that cannot be used stops nothing; the outcome says which file and why,
    // and the file is left as it was.
    void unusableStoreStillTrains()
    {
        const QString database = folder_.filePath("not-a-database.sqlite");
        const QByteArray garbage(4096, 'x');
        {
            QFile file(database);
            QVERIFY(file.open(QIODevice::WriteOnly));
            file.write(garbage);
        }
        sp::CompressionTask task = this->task();
        sp::SessionControl control;
        int steps = 0;
        sp::TrainingProgress progress;
        progress.onStep = [&](const sp::StepReport&) { ++steps; };
        const sp::SessionOutcome outcome =
            sp::runTrainingSession(task, plan(database.toStdString()), progress, control);
        QCOMPARE(outcome.status(), sp::RunStatus::Finished);
        QCOMPARE(steps, 12);
        QVERIFY(outcome.runs[0].evaluated);
        QCOMPARE(outcome.runs[0].runId, std::int64_t(0));
        QVERIFY2(QString::fromStdString(outcome.storeError).contains(database), outcome.storeError.c_str());
        QVERIFY2(!QString::fromStdString(outcome.storeError).contains("--db"), outcome.storeError.c_str());
        QFile file(database);
        QVERIFY(file.open(QIODevice::ReadOnly));
        QCOMPARE(file.readAll(), garbage);
    }
};

QTEST_GUILESS_MAIN(TestTrainingSession)
#include "test_training_session.moc"
