// The compare table: worst query first for a divergence and for a similarity, agreement marks,
// QAbstractItemModelTester, and how divergences are written. (The conversion between engine
// evaluations and stored rows is tested in tests/core/test_run_recording.cpp.)
#include "CompareModel.h"
#include "QtConvert.h"
#include "evaluation_fixture.h"
#include "ui_test_support.h"

#include <QAbstractItemModelTester>
#include <QSortFilterProxyModel>

using sptest::threeQueries;

class TestCompareModel : public QObject {
    Q_OBJECT
private slots:
    // Rounding noise (the full context against itself) reads 0; real divergences keep their digits.
    void divergenceTextHidesRoundingNoise_data()
    {
        QTest::addColumn<double>("value");
        QTest::addColumn<QString>("expected");
        QTest::newRow("full context") << 3.6e-9 << QStringLiteral("0");
        QTest::newRow("below zero") << -3e-9 << QStringLiteral("0");
        QTest::newRow("small sigma") << 0.000294 << QStringLiteral("0.000294");
        QTest::newRow("no context") << 4.39 << QStringLiteral("4.39");
    }
    void divergenceTextHidesRoundingNoise()
    {
        QFETCH(double, value);
        QFETCH(QString, expected);
        QCOMPARE(spui::divergenceText(value, 3), expected);
    }

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
};

SPUI_TEST_MAIN(TestCompareModel)
#include "test_compare_model.moc"
