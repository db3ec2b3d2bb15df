// The run records shared by the CLI and the GUI: step reports as metric points, evaluations as
// stored rows and back (through a real run store), the summary's keys and values, and aggregates
// read back from a summary or recomputed from the rows.
#include "evaluation_fixture.h"

#include "softprompt/error.h"
#include "softprompt/run_recording.h"

#include <QTemporaryDir>
#include <QtTest>

#include <map>

using sptest::threeQueries;

namespace {

sp::ConditionAggregate aggregate(sp::Condition condition, double s, double top1)
{
    sp::ConditionAggregate result;
    result.condition = condition;
    result.s = {s, s * 0.5, s * 1.5};
    result.kl = {2 * s, s, 3 * s};
    result.top1Agreement = {top1, top1 / 2, 1.0};
    result.exactMatch = {top1 / 4, 0.0, top1 / 2};
    return result;
}

} // namespace

class TestRunRecording : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void stepMetricsNameEveryReportedValue_data()
    {
        QTest::addColumn<bool>("hasHeldout");
        QTest::newRow("training step") << false;
        QTest::newRow("evaluation step") << true;
    }
    void stepMetricsNameEveryReportedValue()
    {
        QFETCH(bool, hasHeldout);
        sp::StepReport report;
        report.step = 7;
        report.trainS = 1.5;
        report.trainTop1 = 0.25;
        report.hasHeldout = hasHeldout;
        report.heldoutS = 1.75;
        report.heldoutTop1 = 0.125;
        report.learningRate = 0.01;
        report.gradNorm = 3.5;
        report.stepSeconds = 0.2;
        report.tokensPerSecond = 900.0;
        std::map<std::string, double> values;
        for (const auto& [name, value] : sp::stepMetrics(report))
            QVERIFY2(values.emplace(name, value).second, name.c_str()); // each metric once
        std::map<std::string, double> expected{
            {sp::metric_key::TrainS, 1.5},        {sp::metric_key::TrainTop1, 0.25},
            {sp::metric_key::LearningRate, 0.01}, {sp::metric_key::GradNorm, 3.5},
            {sp::metric_key::StepSeconds, 0.2},   {sp::metric_key::TokensPerSecond, 900.0}};
        if (hasHeldout) {
            expected[sp::metric_key::HeldoutS] = 1.75;
            expected[sp::metric_key::HeldoutTop1] = 0.125;
        }
        QCOMPARE(values, expected);
    }

    // Rows written to a real store read back as the same per-query outcomes.
    void evaluationsRoundTripThroughTheStore()
    {
        QTemporaryDir folder;
        sp::RunStore store = sp::RunStore::open(folder.filePath("runs.sqlite").toStdString());
        const sp::Evaluation original = threeQueries();
        std::vector<sp::Query> queries;
        for (const sp::QueryEvaluation& query : original.queries)
            queries.push_back({query.query, query.target, query.heldOut});
        sp::NewRun run;
        run.name = "round trip";
        run.querySetId = store.putQuerySet("three", sp::storedQueries(queries, {}));
        const sp::QuerySetRecord set = store.querySet(*run.querySetId);
        const std::int64_t first = set.queries[0].id, second = set.queries[1].id;

        const std::vector<sp::StoredEvaluation> rows =
            sp::toStoredEvaluations(original, 120, {first, second});
        QCOMPARE(rows.size(), std::size_t(12));
        QCOMPARE(rows[1].condition, std::string("sigma"));
        QCOMPARE(rows[1].sigmaStep, 120);
        QCOMPARE(rows[0].sigmaStep, 0); // a baseline does not depend on σ
        QCOMPARE(rows[0].queryId.value_or(-1), first);
        QCOMPARE(rows[4].queryId.value_or(-1), second);
        QVERIFY(!rows[8].queryId); // no id given for the third query

        auto writer = store.startRun(run);
        writer->addEvaluations(rows);
        writer->finish(sp::RunStatus::Finished);
        const std::vector<sp::StoredEvaluation> stored = store.evaluations(writer->runId());
        QCOMPARE(stored.size(), rows.size());
        QCOMPARE(stored[3].queryId, rows[3].queryId);
        const sp::Evaluation back = sp::fromStoredEvaluations(stored);
        QCOMPARE(back.queries.size(), original.queries.size());
        for (std::size_t q = 0; q < original.queries.size(); ++q) {
            QCOMPARE(back.queries[q].query, original.queries[q].query);
            QCOMPARE(back.queries[q].target, original.queries[q].target);
            QCOMPARE(back.queries[q].heldOut, original.queries[q].heldOut);
            QCOMPARE(back.queries[q].outcomes.size(), original.queries[q].outcomes.size());
            for (std::size_t c = 0; c < original.queries[q].outcomes.size(); ++c) {
                const sp::ConditionOutcome& a = original.queries[q].outcomes[c];
                const sp::ConditionOutcome& b = back.queries[q].outcomes[c];
                QCOMPARE(int(b.condition), int(a.condition));
                QCOMPARE(b.prediction, a.prediction);
                QCOMPARE(b.predictionIds, a.predictionIds);
                QCOMPARE(b.s, a.s);
                QCOMPARE(b.kl, a.kl);
                QCOMPARE(b.teacherNll, a.teacherNll);
                QCOMPARE(b.top1Agrees, a.top1Agrees);
                QCOMPARE(b.exactMatch, a.exactMatch);
                QCOMPARE(b.perTokenDivergence, a.perTokenDivergence);
                QCOMPARE(b.topK.size(), a.topK.size());
                QCOMPARE(b.topK[0].text, a.topK[0].text);
            }
        }
    }

    void unknownConditionsAreSkipped()
    {
        std::vector<sp::StoredEvaluation> rows = sp::toStoredEvaluations(threeQueries(), 5);
        rows[1].condition = "a condition from a later version";
        const sp::Evaluation back = sp::fromStoredEvaluations(rows);
        QCOMPARE(back.queries[0].outcomes.size(), std::size_t(3));
        QVERIFY(!sp::findOutcome(back.queries[0], sp::Condition::SoftPrompt));
        QVERIFY(sp::findOutcome(back.queries[1], sp::Condition::SoftPrompt));
    }

    void summaryCarriesTheRunAndItsEvaluation_data()
    {
        QTest::addColumn<bool>("withHeldout");
        QTest::addColumn<QString>("status");
        QTest::newRow("held-out queries") << true << "finished";
        QTest::newRow("nothing held out: training-query means") << false << "finished";
        QTest::newRow("cancelled") << true << "cancelled";
    }
    void summaryCarriesTheRunAndItsEvaluation()
    {
        QFETCH(bool, withHeldout);
        QFETCH(QString, status);
        sp::TrainConfig config;
        config.k = 8;
        config.steps = 60;
        config.objective = sp::Objective::Cosine;
        config.target = sp::TargetKind::Continuation;
        sp::TrainResult result;
        result.status = status == "cancelled" ? sp::RunStatus::Cancelled : sp::RunStatus::Finished;
        result.stepsCompleted = 50;
        result.initialTrainS = 0.3;
        result.finalTrainS = 0.9;
        sp::ModelSummary model;
        model.name = "tiny-gpt2";
        model.device = "cpu";
        sp::Evaluation evaluation = threeQueries();
        const std::vector<sp::ConditionAggregate> heldout = {aggregate(sp::Condition::FullContext, 1.0, 1.0),
                                                             aggregate(sp::Condition::SoftPrompt, 0.65, 0.5),
                                                             aggregate(sp::Condition::NoContext, 0.2, 0.0)};
        const std::vector<sp::ConditionAggregate> train = {aggregate(sp::Condition::SoftPrompt, 0.8, 0.75),
                                                           aggregate(sp::Condition::NoContext, 0.1, 0.25)};
        if (withHeldout)
            evaluation.heldout = heldout;
        evaluation.train = train;

        const nlohmann::json summary = sp::runSummary(config, result, model, 800, 12.5, &evaluation);
        QCOMPARE(summary["status"].get<std::string>(), status.toStdString());
        QCOMPARE(summary["steps"].get<int>(), 50);
        QCOMPARE(summary["steps_requested"].get<int>(), 60);
        QCOMPARE(summary["k"].get<int>(), 8);
        QCOMPARE(summary["context_tokens"].get<int>(), 800);
        QCOMPARE(summary["compression_ratio"].get<double>(), 100.0);
        QCOMPARE(summary["objective"].get<std::string>(), std::string("cosine"));
        QCOMPARE(summary["higher_is_better"].get<bool>(), true);
        QCOMPARE(summary["target"].get<std::string>(), std::string("continuation"));
        QCOMPARE(summary["initial_s"].get<double>(), 0.3);
        QCOMPARE(summary["final_s"].get<double>(), 0.9);
        QCOMPARE(summary["train_seconds"].get<double>(), 12.5);
        QCOMPARE(summary["model"].get<std::string>(), std::string("tiny-gpt2"));
        QCOMPARE(summary["device"].get<std::string>(), std::string("cpu"));
        QVERIFY(!summary.contains("error"));
        QCOMPARE(summary["heldout_queries"].get<int>(), 2);
        QCOMPARE(summary["train_queries"].get<int>(), 1);

        // σ's means at the top level; the other conditions under "baselines"; held-out ones when
        // there are any, else the training queries'.
        const sp::ConditionAggregate& sigma = withHeldout ? heldout[1] : train[0];
        const sp::ConditionAggregate& none = withHeldout ? heldout[2] : train[1];
        QCOMPARE(summary["heldout_s"].get<double>(), sigma.s.mean);
        QCOMPARE(summary["heldout_top1_agreement"].get<double>(), sigma.top1Agreement.mean);
        QCOMPARE(summary["heldout_kl"].get<double>(), sigma.kl.mean);
        QCOMPARE(summary["heldout_exact_match"].get<double>(), sigma.exactMatch.mean);
        QVERIFY(!summary["baselines"].contains("sigma"));
        QCOMPARE(summary["baselines"]["none"]["heldout_s"].get<double>(), none.s.mean);
        QCOMPARE(summary["baselines"].contains("full"), withHeldout);

        // The intervals read back per split.
        const auto readHeldout = sp::aggregatesFromSummary(summary, "heldout");
        QCOMPARE(readHeldout.size(), withHeldout ? heldout.size() : std::size_t(0));
        const auto readTrain = sp::aggregatesFromSummary(summary, "train");
        QCOMPARE(readTrain.size(), train.size());
        const sp::ConditionAggregate* readSigma = sp::findAggregate(readTrain, sp::Condition::SoftPrompt);
        QVERIFY(readSigma);
        QCOMPARE(readSigma->s.low, train[0].s.low);
        QCOMPARE(readSigma->s.high, train[0].s.high);
        QCOMPARE(readSigma->exactMatch.high, train[0].exactMatch.high);

        // The CLI's per-condition view agrees with the summary.
        const nlohmann::json conditions = sp::conditionsJson(evaluation);
        QCOMPARE(conditions["sigma"]["heldout_s"], summary["heldout_s"]);
        QCOMPARE(conditions["sigma"]["label"].get<std::string>(),
                 sp::conditionLabel(sp::Condition::SoftPrompt));
        QCOMPARE(conditions["none"]["train"], summary["train"]["none"]);
    }

    void failedRunWithoutEvaluationNamesTheError()
    {
        sp::TrainConfig config;
        sp::TrainResult result;
        result.status = sp::RunStatus::Failed;
        result.error = "NaN at step 3: lower the learning rate";
        result.badStep = 3;
        const nlohmann::json summary = sp::runSummary(config, result, sp::ModelSummary{}, 100, 0.5, nullptr);
        QCOMPARE(summary["status"].get<std::string>(), std::string("failed"));
        QCOMPARE(summary["error"].get<std::string>(), result.error);
        QCOMPARE(summary["bad_step"].get<int>(), 3);
        QVERIFY(!summary.contains("heldout_s"));
        QVERIFY(!summary.contains("baselines"));
        QVERIFY(sp::aggregatesFromSummary(summary, "heldout").empty());
    }

    void meanAggregatesOverTheStoredRows_data()
    {
        QTest::addColumn<bool>("heldOut");
        QTest::addColumn<double>("sigmaS");
        QTest::addColumn<double>("sigmaTop1");
        QTest::addColumn<double>("noneS");
        // Held out: queries 1 and 2 (σ s 0.9 and 0.4, one top-1 agreement; none s 3 and 4).
        QTest::newRow("held out") << true << 0.65 << 0.5 << 3.5;
        QTest::newRow("training") << false << 0.1 << 1.0 << 2.0;
    }
    void meanAggregatesOverTheStoredRows()
    {
        QFETCH(bool, heldOut);
        QFETCH(double, sigmaS);
        QFETCH(double, sigmaTop1);
        QFETCH(double, noneS);
        const auto means = sp::meanAggregates(threeQueries(), heldOut);
        QCOMPARE(means.size(), std::size_t(4)); // full, σ, none, last k: the conditions evaluated
        const sp::ConditionAggregate* sigma = sp::findAggregate(means, sp::Condition::SoftPrompt);
        QVERIFY(sigma);
        QCOMPARE(sigma->s.mean, sigmaS);
        QCOMPARE(sigma->s.low, sigmaS);
        QCOMPARE(sigma->top1Agreement.mean, sigmaTop1);
        QCOMPARE(sp::findAggregate(means, sp::Condition::NoContext)->s.mean, noneS);
        QVERIFY(!sp::findAggregate(means, sp::Condition::FirstK));
    }

    void storedQueriesFollowTheTaskSplit()
    {
        const std::vector<sp::Query> queries = {{"a", "", false}, {"b", "x", false}, {"c", "", true}};
        const auto stored = sp::storedQueries(queries, {true, false, true});
        QCOMPARE(stored.size(), std::size_t(3));
        QVERIFY(stored[0].heldOut);
        QVERIFY(!stored[1].heldOut);
        QCOMPARE(stored[1].target, std::string("x"));
        // Without a mask, each query's own flag.
        const auto unsplit = sp::storedQueries(queries, {});
        QVERIFY(!unsplit[0].heldOut && unsplit[2].heldOut);
    }

    void newRunCarriesTheInputsAndTheModel()
    {
        sp::TrainConfig config;
        config.k = 12;
        sp::ModelSummary model;
        model.name = "m";
        model.path = "/models/m";
        model.identity = "abc123";
        model.device = "cpu";
        const sp::NewRun fromFolder = sp::newRunFor("run", config, model, "", {4, 5});
        QCOMPARE(fromFolder.model.path, std::string("/models/m"));
        QCOMPARE(fromFolder.model.hash, std::string("abc123"));
        QCOMPARE(fromFolder.config["k"].get<int>(), 12);
        QCOMPARE(fromFolder.contextId.value_or(0), std::int64_t(4));
        QCOMPARE(fromFolder.querySetId.value_or(0), std::int64_t(5));
        QVERIFY(!fromFolder.sweepId);
        const sp::NewRun demo = sp::newRunFor("run", config, model, "demo", {4, 5}, 9);
        QCOMPARE(demo.model.path, std::string("demo"));
        QCOMPARE(demo.sweepId.value_or(0), std::int64_t(9));
    }
};

QTEST_GUILESS_MAIN(TestRunRecording)
#include "test_run_recording.moc"
