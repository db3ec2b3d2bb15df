// The compare table: worst query first for a divergence and for a similarity, agreement marks,
// QAbstractItemModelTester, and the conversion between engine evaluations and stored rows that
// lets a reopened run look exactly like a fresh one.
#include "CompareModel.h"
#include "EvaluationRecords.h"
#include "ui_test_support.h"

#include <QAbstractItemModelTester>
#include <QSortFilterProxyModel>

namespace {

sp::ConditionOutcome outcome(sp::Condition condition, const std::string& prediction, double s, bool top1,
                             bool exact)
{
    sp::ConditionOutcome result;
    result.condition = condition;
    result.prediction = prediction;
    result.predictionIds = {int(prediction.size()), 7};
    result.s = s;
    result.kl = s * 2;
    result.top1Agrees = top1;
    result.exactMatch = exact;
    result.teacherNll = 0.25;
    result.topK = {{5, " A", 0.75}, {9, " B", 0.125}};
    result.perTokenDivergence = {s, s / 2};
    return result;
}

// Three queries whose σ outcomes have s = 0.1, 0.9 and 0.4.
sp::Evaluation threeQueries()
{
    sp::Evaluation evaluation;
    const double sigmaS[] = {0.1, 0.9, 0.4};
    for (int i = 0; i < 3; ++i) {
        sp::QueryEvaluation query;
        query.query = "query " + std::to_string(i);
        query.target = i == 1 ? "target" : "";
        query.heldOut = i != 0;
        query.outcomes.push_back(outcome(sp::Condition::FullContext, " teacher", 0.0, true, true));
        query.outcomes.push_back(
            outcome(sp::Condition::SoftPrompt, i == 1 ? " wrong" : " teacher", sigmaS[i], i != 1, i == 0));
        query.outcomes.push_back(outcome(sp::Condition::NoContext, " none", 2.0, false, false));
        query.outcomes.push_back(outcome(sp::Condition::LastK, " last", 1.0, true, false));
        evaluation.queries.push_back(query);
    }
    return evaluation;
}

} // namespace

class TestCompareModel : public QObject {
    Q_OBJECT
private slots:
    void worstFirstForADivergence()
    {
        spui::CompareModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.setEvaluation(threeQueries(), false);
        QCOMPARE(model.rowCount(), 3);
        QCOMPARE(model.index(0, spui::CompareModel::QueryColumn).data().toString(),
                 QStringLiteral("query 1"));
        QCOMPARE(model.index(1, spui::CompareModel::QueryColumn).data().toString(),
                 QStringLiteral("query 2"));
        QCOMPARE(model.index(2, spui::CompareModel::QueryColumn).data().toString(),
                 QStringLiteral("query 0"));
        QCOMPARE(model.index(0, spui::CompareModel::SColumn).data(spui::CompareModel::SortRole).toDouble(),
                 0.9);
        QVERIFY(model.headerData(spui::CompareModel::SColumn, Qt::Horizontal).toString().contains("↓"));
    }

    void worstFirstForASimilarity()
    {
        spui::CompareModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.setEvaluation(threeQueries(), true);
        QCOMPARE(model.index(0, spui::CompareModel::QueryColumn).data().toString(),
                 QStringLiteral("query 0"));
        QVERIFY(model.headerData(spui::CompareModel::SColumn, Qt::Horizontal).toString().contains("↑"));
        model.clear();
        QCOMPARE(model.rowCount(), 0);
    }

    void agreementIsMarked()
    {
        spui::CompareModel model;
        model.setEvaluation(threeQueries(), false);
        // Row 0 is query 1: σ disagrees on the first token.
        const QString wrong = model.index(0, spui::CompareModel::SigmaColumn).data().toString();
        QVERIFY2(wrong.startsWith("✗"), qPrintable(wrong));
        const QString exact = model.index(2, spui::CompareModel::SigmaColumn).data().toString();
        QVERIFY2(exact.startsWith("✓"), qPrintable(exact));
        const QString close = model.index(0, spui::CompareModel::LastKColumn).data().toString();
        QVERIFY2(close.startsWith("≈"), qPrintable(close));
        QVERIFY(model.index(0, spui::CompareModel::SigmaColumn).data(Qt::BackgroundRole).isValid());
        // The teacher column is the reference, not marked.
        QCOMPARE(model.index(0, spui::CompareModel::FullColumn).data().toString(),
                 QStringLiteral(" teacher"));
        // A condition that was not evaluated shows a dash.
        QCOMPARE(model.index(0, spui::CompareModel::FirstKColumn).data().toString(), QStringLiteral("–"));
    }

    void sortingThroughAProxy()
    {
        spui::CompareModel model;
        model.setEvaluation(threeQueries(), false);
        QSortFilterProxyModel proxy;
        proxy.setSourceModel(&model);
        proxy.setSortRole(spui::CompareModel::SortRole);
        QAbstractItemModelTester tester(&proxy, QAbstractItemModelTester::FailureReportingMode::QtTest);
        proxy.sort(spui::CompareModel::SColumn, Qt::AscendingOrder);
        QCOMPARE(proxy.index(0, spui::CompareModel::QueryColumn).data().toString(),
                 QStringLiteral("query 0"));
    }

    void storedRowsRoundTrip()
    {
        const sp::Evaluation original = threeQueries();
        const std::vector<sp::StoredEvaluation> rows = spui::toStoredEvaluations(original, 120);
        QCOMPARE(rows.size(), size_t(12));
        QCOMPARE(rows[1].condition, std::string("sigma"));
        QCOMPARE(rows[1].sigmaStep, 120);
        QCOMPARE(rows[0].sigmaStep, 0);
        const sp::Evaluation back = spui::fromStoredEvaluations(rows);
        QCOMPARE(back.queries.size(), original.queries.size());
        for (size_t q = 0; q < original.queries.size(); ++q) {
            QCOMPARE(back.queries[q].query, original.queries[q].query);
            QCOMPARE(back.queries[q].target, original.queries[q].target);
            QCOMPARE(back.queries[q].heldOut, original.queries[q].heldOut);
            QCOMPARE(back.queries[q].outcomes.size(), original.queries[q].outcomes.size());
            for (size_t c = 0; c < original.queries[q].outcomes.size(); ++c) {
                const sp::ConditionOutcome& a = original.queries[q].outcomes[c];
                const sp::ConditionOutcome& b = back.queries[q].outcomes[c];
                QCOMPARE(int(b.condition), int(a.condition));
                QCOMPARE(b.prediction, a.prediction);
                QCOMPARE(b.predictionIds, a.predictionIds);
                QCOMPARE(b.s, a.s);
                QCOMPARE(b.kl, a.kl);
                QCOMPARE(b.top1Agrees, a.top1Agrees);
                QCOMPARE(b.exactMatch, a.exactMatch);
                QCOMPARE(b.perTokenDivergence, a.perTokenDivergence);
                QCOMPARE(b.topK.size(), a.topK.size());
            }
        }
    }

    void aggregatesFromSummaryAndMeans()
    {
        sp::Evaluation evaluation = threeQueries();
        sp::ConditionAggregate sigma;
        sigma.condition = sp::Condition::SoftPrompt;
        sigma.s = {0.65, 0.4, 0.9};
        sigma.top1Agreement = {0.5, 0.0, 1.0};
        evaluation.heldout = {sigma};
        sp::TrainResult result;
        result.initialTrainS = 3.0;
        result.finalTrainS = 0.2;
        result.stepsCompleted = 50;
        const nlohmann::json summary = spui::evaluationSummary(evaluation, result, 800, 8);
        QCOMPARE(summary["compression_ratio"].get<double>(), 100.0);
        QCOMPARE(summary["heldout_top1_agreement"].get<double>(), 0.5);
        QCOMPARE(summary["heldout_s"].get<double>(), 0.65); // the CLI's key for σ's held-out s
        QVERIFY(summary["baselines"].is_object());
        const auto aggregates = spui::aggregatesFromSummary(summary, "heldout");
        QCOMPARE(aggregates.size(), size_t(1));
        QCOMPARE(aggregates[0].s.low, 0.4);
        QCOMPARE(aggregates[0].s.high, 0.9);

        // Held-out queries 1 and 2 have σ s of 0.9 and 0.4, and one top-1 agreement.
        const auto means = spui::meanAggregates(evaluation, true);
        const sp::ConditionAggregate* sigmaMean = spui::findAggregate(means, sp::Condition::SoftPrompt);
        QVERIFY(sigmaMean);
        QCOMPARE(sigmaMean->s.mean, 0.65);
        QCOMPARE(sigmaMean->top1Agreement.mean, 0.5);
    }
};

SPUI_TEST_MAIN(TestCompareModel)
#include "test_compare_model.moc"
