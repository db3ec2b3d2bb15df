// The per-position KL strip on the Compare tab draws one cell per position of ŷ, coloured so that
// the caption ("dark red cells are where σ loses the context") and the colour scale agree.
#include "CompareView.h"
#include "Session.h"
#include "softprompt/prompt_format.h"
#include "evaluation_fixture.h"
#include "ui_test_support.h"

#include <QLabel>
#include <qcustomplot.h>

Q_DECLARE_METATYPE(std::vector<double>)

namespace {

sp::Evaluation withDivergences(const std::vector<double>& divergences)
{
    sp::Evaluation evaluation = sptest::threeQueries();
    for (sp::QueryEvaluation& query : evaluation.queries)
        for (sp::ConditionOutcome& outcome : query.outcomes)
            outcome.perTokenDivergence = divergences;
    return evaluation;
}

// Lightness (0–255) of the strip's pixel at the centre of position `position` (1-based).
int lightnessAt(QCustomPlot* strip, const QImage& image, int position)
{
    const int x = int(strip->xAxis->coordToPixel(position));
    const int y = int(strip->yAxis->coordToPixel(0.0));
    return image.pixelColor(x, y).lightness();
}

} // namespace

class TestCompareView : public QObject {
    Q_OBJECT
private slots:
    // "Rendered prompts…" shows what each condition puts before the answer, in the run's layout: in
    // the chat format σ stands between the template's system markers, and "no context" is the
    // template without a system message (here with the default system prompt Qwen2.5 renders).
    void renderedPromptsFollowTheRunsLayout()
    {
        spui::Session session;
        spui::CompareView view(&session);
        session.setContext(QStringLiteral("Answer in capitals."));
        spui::TrainingOutcome outcome;
        outcome.runId = 1;
        outcome.config.k = 4;
        outcome.evaluation = sptest::threeQueries();
        outcome.prompt.format = sp::PromptFormat::Chat;
        outcome.prompt.pre = "<|im_start|>system\n";
        outcome.prompt.mid = "<|im_end|>\n<|im_start|>user\n";
        outcome.prompt.post = "<|im_end|>\n<|im_start|>assistant\n";
        outcome.prompt.noContextPre = "<|im_start|>system\nYou are Qwen.<|im_end|>\n<|im_start|>user\n";
        session.showOutcome(outcome);
        view.selectRow(0);
        QVERIFY(view.findChild<QWidget*>("renderedPromptsButton")->isEnabled());
        const QString html = view.renderedPromptsHtml();
        QVERIFY2(html.contains(QStringLiteral("Format: <b>chat</b>")), qPrintable(html));
        const auto shown = [](const std::string& text) { return QString::fromStdString(text).toHtmlEscaped(); };
        int found = 0;
        for (int i = 0; i < 3; ++i) { // whichever query the sorted table shows first
            const std::string query = "query " + std::to_string(i);
            if (!html.contains(shown("<|im_start|>user\n" + query + "<|im_end|>")))
                continue;
            ++found;
            QVERIFY2(html.contains(shown("<|im_start|>system\nAnswer in capitals.<|im_end|>\n<|im_start|>user\n" +
                                         query + "<|im_end|>\n<|im_start|>assistant\n")),
                     qPrintable(html));
            QVERIFY2(html.contains(shown("<|im_start|>system\n[σ × 4]<|im_end|>\n<|im_start|>user\n" + query)),
                     qPrintable(html));
            QVERIFY2(html.contains(shown("<|im_start|>system\nYou are Qwen.<|im_end|>\n<|im_start|>user\n" + query)),
                     qPrintable(html));
        }
        QCOMPARE(found, 1); // the selected query's prompts, no other's
    }

    void divergenceStripDrawsEveryCell_data()
    {
        QTest::addColumn<std::vector<double>>("divergences");
        QTest::newRow("three positions") << std::vector<double>{0.0, 2.0, 1.0};
        QTest::newRow("one position") << std::vector<double>{0.5};
    }

    void divergenceStripDrawsEveryCell()
    {
        QFETCH(std::vector<double>, divergences);
        spui::Session session;
        spui::CompareView view(&session);
        view.resize(1000, 700);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        spui::TrainingOutcome outcome;
        outcome.runId = 1;
        outcome.evaluation = withDivergences(divergences);
        session.showOutcome(outcome);
        view.selectRow(0);
        QCustomPlot* strip = view.stripPlot();
        QTRY_VERIFY(strip->isVisible());
        strip->replot(QCustomPlot::rpImmediateRefresh);
        const QImage image = strip->grab().toImage();
        const QColor background = image.pixelColor(strip->axisRect()->rect().center().x(), 2);
        const double top = *std::max_element(divergences.begin(), divergences.end());
        for (int i = 0; i < int(divergences.size()); ++i) {
            const QPoint centre(int(strip->xAxis->coordToPixel(i + 1)), int(strip->yAxis->coordToPixel(0.0)));
            const QColor cell = image.pixelColor(centre);
            QVERIFY2(cell != background && cell != Qt::white,
                     qPrintable(QStringLiteral("position %1 drew no cell (%2)").arg(i + 1).arg(cell.name())));
            // Full height: the cell reaches near the top and bottom of the strip's axis rect.
            const QRect axis = strip->axisRect()->rect();
            // (Beside the tick mark, which the x axis draws into the rect at the cell's centre.)
            QCOMPARE(image.pixelColor(centre.x() + 4, axis.top() + 8), cell);
            QCOMPARE(image.pixelColor(centre.x() + 4, axis.bottom() - 8), cell);
            if (divergences[size_t(i)] == top)
                QVERIFY2(cell.red() > 2 * cell.blue(), qPrintable(cell.name())); // red, the bad end
        }
        if (divergences.size() == 3) {
            // Higher KL is darker, as the caption says.
            QVERIFY(lightnessAt(strip, image, 2) < lightnessAt(strip, image, 3));
            QVERIFY(lightnessAt(strip, image, 3) < lightnessAt(strip, image, 1));
        }
        const QString caption = view.findChild<QLabel*>("stripNote")->text();
        QVERIFY2(caption.contains("dark red cells are where σ loses"), qPrintable(caption));
    }

    // The bar chart's y label fits its axis at the chart's smallest height (it was cut off).
    void barChartLabelFits()
    {
        spui::Session session;
        spui::CompareView view(&session);
        view.resize(1000, 500);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        spui::TrainingOutcome outcome;
        outcome.runId = 1;
        outcome.evaluation = sptest::threeQueries();
        session.showOutcome(outcome);
        view.selectRow(0);
        QCustomPlot* bars = view.findChild<QCustomPlot*>("topKBars");
        QVERIFY(bars);
        bars->resize(bars->width(), bars->minimumHeight());
        bars->replot(QCustomPlot::rpImmediateRefresh);
        const QFontMetrics metrics(bars->yAxis->labelFont());
        const int labelLength = metrics.horizontalAdvance(bars->yAxis->label());
        QVERIFY2(labelLength <= bars->axisRect()->rect().height(),
                 qPrintable(QStringLiteral("label %1 px, axis %2 px").arg(labelLength).arg(bars->axisRect()->rect().height())));
    }
};

SPUI_TEST_MAIN(TestCompareView)
#include "test_compare_view.moc"
