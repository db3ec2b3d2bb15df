// The live plot: points arrive per step but replots are merged on a timer; baselines are labelled
// reference lines; log scale, smoothing, the hover read-out, the similarity direction, and export
// to PNG, PDF and SVG.
#include "CurvePlot.h"
#include "PlotExport.h"
#include "softprompt/error.h"
#include "ui_test_support.h"

#include <QFile>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <qcustomplot.h>

class TestCurvePlot : public QObject {
    Q_OBJECT
private slots:
    void replotsAreMergedNotPerStep()
    {
        spui::CurvePlot plot;
        plot.resize(800, 500);
        plot.show();
        QVERIFY(QTest::qWaitForWindowExposed(&plot));
        QTest::qWait(200);
        const int before = plot.replotCount();
        for (int step = 1; step <= 500; ++step) {
            sp::StepReport report;
            report.step = step;
            report.totalSteps = 500;
            report.trainS = 2.0 / step;
            report.trainTop1 = std::min(1.0, step / 400.0);
            report.hasHeldout = step % 10 == 0;
            report.heldoutS = 2.5 / step;
            report.heldoutTop1 = report.trainTop1 * 0.9;
            plot.addStep(report);
        }
        QCOMPARE(plot.trainPointCount(), 500);
        QCOMPARE(plot.heldoutPointCount(), 50);
        QTRY_VERIFY(plot.replotCount() > before);
        QTest::qWait(200);
        // 500 steps added in one burst: one merged replot, not 500.
        QVERIFY2(plot.replotCount() - before <= 2, qPrintable(QString::number(plot.replotCount() - before)));
        QCOMPARE(plot.plot()->graph(1)->dataCount(), 500); // the train curve
        QCOMPARE(plot.plot()->graph(2)->dataCount(), 50);  // held-out
        // The x axis follows the data.
        QVERIFY(plot.plot()->xAxis->range().upper >= 500);
    }

    void baselinesAreLabelledLines()
    {
        spui::CurvePlot plot;
        plot.setBaselines({{sp::Condition::FullContext, 0.0, 1.0},
                           {sp::Condition::NoContext, 3.2, 0.1},
                           {sp::Condition::LastK, 1.7, 0.4}});
        int lines = 0;
        QStringList labels;
        for (int i = 0; i < plot.plot()->itemCount(); ++i) {
            if (qobject_cast<QCPItemStraightLine*>(plot.plot()->item(i)))
                ++lines;
            if (auto* text = qobject_cast<QCPItemText*>(plot.plot()->item(i)))
                labels << text->text();
        }
        QCOMPARE(lines, 3);
        QCOMPARE(labels.size(), 3);
        QVERIFY2(labels.join("|").contains("no context: s 3.2"), qPrintable(labels.join("|")));
        QVERIFY(labels.join("|").contains("top-1 10%"));
        // On a log axis, s = 0 cannot be drawn: its label says so instead of a line at -∞.
        plot.setLogScale(true);
        QVERIFY(plot.logScale());
        lines = 0;
        labels.clear();
        for (int i = 0; i < plot.plot()->itemCount(); ++i) {
            if (qobject_cast<QCPItemStraightLine*>(plot.plot()->item(i)))
                ++lines;
            if (auto* text = qobject_cast<QCPItemText*>(plot.plot()->item(i)))
                labels << text->text();
        }
        QCOMPARE(lines, 2);
        QVERIFY2(labels.join("|").contains("full context: s 0 · top-1 100% (below the log axis)"),
                 qPrintable(labels.join("|")));
        QCOMPARE(plot.plot()->yAxis->scaleType(), QCPAxis::stLogarithmic);
    }

    // The full context compared with itself gives rounding noise such as s = 1e-10: on a log axis
    // it must not stretch the axis ten decades below the curve.
    void fullContextNoiseDoesNotStretchTheLogAxis()
    {
        spui::CurvePlot plot;
        plot.resize(800, 500);
        plot.show();
        QVERIFY(QTest::qWaitForWindowExposed(&plot));
        plot.setLogScale(true);
        for (int step = 1; step <= 100; ++step)
            plot.addTrainPoint(step, 3.0 / step, 0.5);
        plot.setBaselines({{sp::Condition::FullContext, 1e-10, 1.0}, {sp::Condition::NoContext, 4.0, 0.1}});
        const int before = plot.replotCount();
        QTRY_VERIFY(plot.replotCount() > before);
        const QCPRange range = plot.plot()->yAxis->range();
        // The data spans 0.03 to 4: the axis stays within a factor of ten of it.
        QVERIFY2(range.lower > 0.003 && range.upper < 40,
                 qPrintable(QStringLiteral("%1 .. %2").arg(range.lower).arg(range.upper)));
        int lines = 0;
        for (int i = 0; i < plot.plot()->itemCount(); ++i)
            lines += qobject_cast<QCPItemStraightLine*>(plot.plot()->item(i)) ? 1 : 0;
        QCOMPARE(lines, 1); // only the no-context line; the full context's label says "0"
    }

    void similarityAxisSaysHigherIsBetter()
    {
        spui::CurvePlot plot;
        plot.setObjective("Cosine similarity", true);
        QVERIFY2(plot.plot()->yAxis->label().contains("higher is better"),
                 qPrintable(plot.plot()->yAxis->label()));
        // A similarity may be ≤ 0, so the log scale is switched off and disabled.
        QVERIFY(!plot.logScale());
        plot.setObjective("Forward KL", false);
        QVERIFY(plot.plot()->yAxis->label().contains("lower is better"));
    }

    void smoothingAndReadout()
    {
        spui::CurvePlot plot;
        plot.resize(700, 400);
        for (int step = 1; step <= 20; ++step)
            plot.addTrainPoint(step, step % 2 ? 2.0 : 0.0, 0.5);
        plot.addHeldoutPoint(10, 0.7, 0.25);
        plot.setSmoothing(0.9);
        QCPGraph* smoothed = plot.plot()->graph(1);
        QCPGraph* raw = plot.plot()->graph(0);
        QCOMPARE(raw->dataCount(), 20);
        // An EMA of 2,0,2,0,... with weight 0.9 stays well inside (0, 2).
        const double last = (smoothed->data()->constEnd() - 1)->value;
        QVERIFY2(last > 0.5 && last < 1.5, qPrintable(QString::number(last)));
        plot.setSmoothing(0.0);
        QCOMPARE((plot.plot()->graph(1)->data()->constEnd() - 1)->value, 0.0);
        QCOMPARE(raw->dataCount(), 0);

        plot.showReadoutAt(9.6);
        QVERIFY2(plot.hoverText().startsWith("step 10 · train s 0"), qPrintable(plot.hoverText()));
        QVERIFY2(plot.hoverText().contains("held-out at step 10: s 0.7 · top-1 25%"),
                 qPrintable(plot.hoverText()));
    }

    void exportsPngPdfSvg_data()
    {
        QTest::addColumn<QString>("name");
        QTest::addColumn<QByteArray>("magic");
        QTest::newRow("png") << "curve.png" << QByteArray("\x89PNG");
        QTest::newRow("pdf") << "curve.pdf" << QByteArray("%PDF");
        QTest::newRow("svg") << "curve.svg" << QByteArray("<?xml");
    }

    void exportsPngPdfSvg()
    {
        QFETCH(QString, name);
        QFETCH(QByteArray, magic);
        spui::CurvePlot plot;
        for (int step = 1; step <= 30; ++step)
            plot.addTrainPoint(step, 1.0 / step, 0.5);
        QTemporaryDir dir;
        const QString path = dir.filePath(name);
        spui::exportPlot(plot.plot(), path, 640, 400);
        QFile file(path);
        QVERIFY(file.open(QIODevice::ReadOnly));
        const QByteArray bytes = file.readAll();
        QVERIFY2(bytes.startsWith(magic), bytes.left(16).constData());
        QVERIFY(bytes.size() > 500);
        if (name.endsWith(".svg"))
            QVERIFY(bytes.contains("<svg"));
    }

    void exportRejectsUnknownFormat()
    {
        spui::CurvePlot plot;
        QTemporaryDir dir;
        try {
            spui::exportPlot(plot.plot(), dir.filePath("curve.bmpx"));
            QFAIL("an unknown format was accepted");
        } catch (const sp::Error& error) {
            QVERIFY(QString::fromStdString(error.what()).contains(".png, .pdf or .svg"));
        }
    }
};

SPUI_TEST_MAIN(TestCurvePlot)
#include "test_curve_plot.moc"
