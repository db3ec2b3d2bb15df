// The stakeholder report as PDF: the training curve fits the page. The PDF is rasterised with
// poppler's pdftoppm (an implementation other than Qt's) and nothing may reach past the text
// column: before the fix the 300-step curve ran off the page at about step 220, losing its right
// axis and the baseline labels.
#include "CurvePlot.h"
#include "MainWindow.h"
#include "Session.h"
#include "evaluation_fixture.h"
#include "ui_test_support.h"

#include <QDir>
#include <QImage>
#include <QProcess>
#include <QStandardPaths>
#include <QTemporaryDir>

namespace {

// The rightmost column (in pixels) that holds a non-white pixel, or -1.
int rightmostInk(const QImage& page)
{
    for (int x = page.width() - 1; x >= 0; --x)
        for (int y = 0; y < page.height(); ++y)
            if (QColor(page.pixel(x, y)).lightness() < 235)
                return x;
    return -1;
}

} // namespace

class TestReport : public QObject {
    Q_OBJECT
private slots:
    void pdfChartFitsThePage()
    {
        const QString pdftoppm = QStandardPaths::findExecutable("pdftoppm");
        if (pdftoppm.isEmpty())
            QSKIP("pdftoppm (Debian poppler-utils, installed by scripts/setup.sh) is not installed");
        spui::MainWindow window;
        window.resize(1280, 820);
        for (int step = 1; step <= 300; ++step) {
            sp::StepReport report;
            report.step = step;
            report.totalSteps = 300;
            report.trainS = 3.0 / step;
            report.trainTop1 = std::min(1.0, step / 250.0);
            report.hasHeldout = step % 10 == 0;
            report.heldoutS = 3.3 / step;
            report.heldoutTop1 = report.trainTop1 * 0.9;
            window.curvePlot()->addStep(report);
        }
        window.curvePlot()->setBaselines({{sp::Condition::FullContext, 1e-10, 1.0},
                                          {sp::Condition::NoContext, 4.4, 0.05},
                                          {sp::Condition::LastK, 1.9, 0.3}});
        spui::TrainingOutcome outcome;
        outcome.runId = 7;
        outcome.contextTokens = 905;
        outcome.config.k = 8;
        outcome.evaluation = sptest::threeQueries();
        window.session()->showOutcome(outcome);
        QTest::qWait(100); // the plot's merged replot

        QTemporaryDir dir;
        const QString pdf = dir.filePath("report.pdf");
        QString error;
        QVERIFY2(window.exportReportTo(pdf, &error), qPrintable(error));

        constexpr int kDpi = 50;
        QProcess raster;
        raster.start(pdftoppm, {"-r", QString::number(kDpi), "-png", pdf, dir.filePath("page")});
        QVERIFY(raster.waitForFinished(60000));
        QCOMPARE(raster.exitCode(), 0);
        const QStringList pages = QDir(dir.path()).entryList({"page*.png"}, QDir::Files, QDir::Name);
        QVERIFY(!pages.isEmpty());
        auto millimetres = [](int pixels) { return pixels * 25.4 / kDpi; };
        int widestInk = -1;
        for (const QString& name : pages) {
            const QImage page(dir.filePath(name));
            QVERIFY(!page.isNull());
            // A4 portrait.
            QVERIFY(std::abs(millimetres(page.width()) - 210.0) < 2.0);
            widestInk = std::max(widestInk, rightmostInk(page));
        }
        // The text column ends 15 mm (page margin) + 20 mm (QTextDocument's print margin) before the
        // paper's edge; tolerance 5 mm for anti-aliasing and rounding. A cut chart reaches 195 mm.
        QVERIFY2(millimetres(widestInk) < 180.0,
                 qPrintable(QStringLiteral("ink reaches %1 mm of 210").arg(millimetres(widestInk))));
        // ... and the chart is there and wide: ink reaches well past the middle of the page.
        QVERIFY2(millimetres(widestInk) > 140.0,
                 qPrintable(QStringLiteral("ink ends at %1 mm").arg(millimetres(widestInk))));
        // Kept for looking at: the first page.
        const QString keep = qEnvironmentVariable("SP_REPORT_PNG");
        if (!keep.isEmpty())
            QFile::copy(dir.filePath(pages.first()), keep);
    }
};

SPUI_TEST_MAIN(TestReport)
#include "test_report.moc"
