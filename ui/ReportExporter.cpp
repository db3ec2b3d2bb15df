#include "ReportExporter.h"

#include "PlotExport.h"
#include "QtConvert.h"
#include "Session.h"
#include "softprompt/error.h"
#include "softprompt/run_recording.h"
#include "softprompt/version.h"

#include <QBuffer>
#include <QDateTime>
#include <QFileInfo>
#include <QLocale>
#include <QPageLayout>
#include <QPageSize>
#include <QPrinter>
#include <QSaveFile>
#include <QTextDocument>

#include <algorithm>

namespace spui {
namespace {

QString escape(const std::string& text)
{
    if (text.empty())
        return QObject::tr("∅ <small>(ends at once)</small>");
    QString html = toQ(text).toHtmlEscaped();
    html.replace(QLatin1Char('\n'), QStringLiteral("↵"));
    return html;
}

QString percent(double fraction)
{
    return QStringLiteral("%1%").arg(fraction * 100.0, 0, 'f', 0);
}

QString intervalCell(const sp::Interval& interval, bool asPercent)
{
    if (asPercent)
        return QStringLiteral("%1 <small>(%2–%3)</small>")
            .arg(percent(interval.mean), percent(interval.low), percent(interval.high));
    return QStringLiteral("%1 <small>(%2–%3)</small>")
        .arg(divergenceText(interval.mean, 3), divergenceText(interval.low, 3),
             divergenceText(interval.high, 3));
}

QString imageSource(const QImage& image, bool embed)
{
    if (!embed)
        return QStringLiteral("curve.png");
    QByteArray bytes;
    QBuffer buffer(&bytes);
    buffer.open(QIODevice::WriteOnly);
    image.save(&buffer, "PNG");
    return QStringLiteral("data:image/png;base64,") + QString::fromLatin1(bytes.toBase64());
}

} // namespace

QString buildReportHtml(const ReportInputs& inputs, bool embedImages)
{
    const Session* session = inputs.session;
    if (!session || !session->hasOutcome() || session->lastOutcome().evaluation.queries.empty())
        throw sp::Error("there is nothing to report yet: train σ (or open a finished run) first");
    const TrainingOutcome& outcome = session->lastOutcome();
    const sp::ObjectiveInfo& objective = sp::objectiveInfo(outcome.config.objective);
    const bool heldout = !outcome.evaluation.heldout.empty();
    const auto& aggregates = heldout ? outcome.evaluation.heldout : outcome.evaluation.train;
    const int contextTokens = outcome.contextTokens;
    const double ratio = outcome.config.k > 0 ? double(contextTokens) / outcome.config.k : 0.0;

    QString html;
    html += QStringLiteral("<html><head><meta charset='utf-8'><title>%1</title>"
                           "<style>body{font-family:sans-serif;max-width:60em;margin:auto;}"
                           "table{border-collapse:collapse;}td,th{border:1px solid #bbb;padding:3px 6px;}"
                           "th{background:#eef;}small{color:#555;}.good{background:#d1f2d9;}"
                           ".close{background:#fdf3c4;}.bad{background:#f8d7da;}</style></head><body>")
                .arg(QObject::tr("Soft-prompt compression report"));
    html += QObject::tr("<h1>Compressing a %1-token context into %2 vectors</h1>")
                .arg(contextTokens)
                .arg(outcome.config.k);
    html += QObject::tr("<p>The context is replaced by k = %1 learned vectors σ placed before each query, "
                        "a <b>%2× compression</b>. σ was trained to make the frozen model's predictions "
                        "with σ match its predictions with the full context.</p>")
                .arg(outcome.config.k)
                .arg(ratio, 0, 'f', ratio >= 10 ? 0 : 1);

    html += QObject::tr("<h2>Setup</h2><table>");
    auto row = [&html](const QString& key, const QString& value) {
        html += QStringLiteral("<tr><th align=left>%1</th><td>%2</td></tr>").arg(key, value);
    };
    if (session->hasModel()) {
        const sp::ModelSummary& model = session->model().summary();
        row(QObject::tr("Model"), QObject::tr("%1 (%2, %3 parameters, %4-token window)")
                                      .arg(toQ(model.name).toHtmlEscaped(), toQ(model.modelType))
                                      .arg(humanCount(double(model.parameterCount)))
                                      .arg(model.contextWindow));
    }
    row(QObject::tr("Context"),
        QObject::tr("%1 tokens%2")
            .arg(contextTokens)
            .arg(QStringLiteral(" (%1)").arg(session->contextLabel().toHtmlEscaped())));
    row(QObject::tr("Soft prompt"), QObject::tr("k = %1 vectors · compression ratio %2×")
                                        .arg(outcome.config.k)
                                        .arg(ratio, 0, 'f', ratio >= 10 ? 0 : 1));
    row(QObject::tr("Objective s"), QObject::tr("%1, %2")
                                        .arg(toQ(objective.label).toHtmlEscaped())
                                        .arg(objective.higherIsBetter ? QObject::tr("higher is better")
                                                                      : QObject::tr("lower is better")));
    row(QObject::tr("Training"), QObject::tr("%1 steps, learning rate %2, batch %3, seed %4")
                                     .arg(outcome.result.stepsCompleted)
                                     .arg(outcome.config.learningRate)
                                     .arg(outcome.config.batchSize)
                                     .arg(outcome.config.seed));
    row(QObject::tr("Run"), QObject::tr("#%1, %2")
                                .arg(outcome.runId)
                                .arg(QLocale().toString(QDateTime::currentDateTime(), QLocale::ShortFormat)));
    html += QStringLiteral("</table>");

    if (!inputs.curve.isNull())
        html += QObject::tr("<h2>Training curve</h2><p><img src='%1' width='%2'></p>")
                    .arg(imageSource(inputs.curve, embedImages))
                    .arg(std::min(inputs.curve.width(), inputs.curveWidth));

    html +=
        QObject::tr("<h2>How close σ gets to the full context</h2><p>On %1 queries%2. Means with 95% "
                    "bootstrap intervals. Top-1 agreement: the first predicted token equals the one "
                    "predicted with the full context. Exact match: the whole greedy answer is the same.</p>")
            .arg(heldout ? QObject::tr("held-out") : QObject::tr("training"))
            .arg(heldout ? QObject::tr(" (never trained on)") : QString());
    html += QObject::tr(
        "<table><tr><th>condition</th><th>s</th><th>top-1 agreement</th><th>exact match</th></tr>");
    for (const sp::ConditionAggregate& aggregate : aggregates)
        html +=
            QStringLiteral("<tr><td><font color='%1'>■</font> %2</td><td>%3</td><td>%4</td><td>%5</td></tr>")
                .arg(conditionColor(aggregate.condition).name(), conditionShortLabel(aggregate.condition),
                     intervalCell(aggregate.s, false), intervalCell(aggregate.top1Agreement, true),
                     intervalCell(aggregate.exactMatch, true));
    html += QStringLiteral("</table>");

    // Example predictions: the worst and the best σ outcomes, so the report shows both.
    std::vector<const sp::QueryEvaluation*> queries;
    for (const sp::QueryEvaluation& query : outcome.evaluation.queries)
        if (findOutcome(query, sp::Condition::SoftPrompt) && (query.heldOut == heldout))
            queries.push_back(&query);
    std::sort(queries.begin(), queries.end(), [&](const auto* a, const auto* b) {
        const double sa = findOutcome(*a, sp::Condition::SoftPrompt)->s;
        const double sb = findOutcome(*b, sp::Condition::SoftPrompt)->s;
        return objective.higherIsBetter ? sa > sb : sa < sb; // best first
    });
    std::vector<const sp::QueryEvaluation*> shown;
    const size_t half = size_t(std::max(1, inputs.examples / 2));
    for (size_t i = 0; i < queries.size() && i < half; ++i)
        shown.push_back(queries[i]);
    for (size_t i = queries.size() > half ? std::max(half, queries.size() - half) : queries.size();
         i < queries.size(); ++i)
        shown.push_back(queries[i]);
    html += QObject::tr("<h2>Example predictions</h2><p>The best %1 and the worst %2 %3 queries by s. "
                        "<span class=good>green</span>: same answer as with the full context; "
                        "<span class=close>yellow</span>: same first token; <span class=bad>red</span>: "
                        "different.</p>")
                .arg(std::min(half, queries.size()))
                .arg(shown.size() - std::min(half, queries.size()))
                .arg(heldout ? QObject::tr("held-out") : QObject::tr("training"));
    html += QObject::tr("<table><tr><th>query</th><th>full context ŷ</th><th>σ</th><th>no context</th>"
                        "<th>last k tokens</th><th>s</th></tr>");
    for (const sp::QueryEvaluation* query : shown) {
        auto cell = [&](sp::Condition condition) {
            const sp::ConditionOutcome* outcome = findOutcome(*query, condition);
            if (!outcome)
                return QStringLiteral("<td>–</td>");
            if (condition == sp::Condition::FullContext)
                return QStringLiteral("<td>%1</td>").arg(escape(outcome->prediction));
            const char* cls = outcome->exactMatch ? "good" : outcome->top1Agrees ? "close" : "bad";
            return QStringLiteral("<td class=%1>%2</td>")
                .arg(QLatin1String(cls), escape(outcome->prediction));
        };
        html +=
            QStringLiteral("<tr><td>%1</td>%2%3%4%5<td>%6</td></tr>")
                .arg(escape(query->query), cell(sp::Condition::FullContext), cell(sp::Condition::SoftPrompt),
                     cell(sp::Condition::NoContext), cell(sp::Condition::LastK))
                .arg(findOutcome(*query, sp::Condition::SoftPrompt)->s, 0, 'g', 3);
    }
    html += QStringLiteral("</table>");
    html += inputs.coverageHtml;
    html += QObject::tr("<p><small>Made with SoftPrompt Workbench %1.</small></p></body></html>")
                .arg(toQ(sp::projectVersion()));
    return html;
}

void writeReportHtml(const QString& path, const ReportInputs& inputs)
{
    const QString html = buildReportHtml(inputs, true);
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly) || file.write(html.toUtf8()) < 0 || !file.commit())
        throw sp::Error(sp::fileError(toStd(path), "cannot be written (" + toStd(file.errorString()) +
                                                       "); choose a folder you can write to"));
}

void writeReportPdf(const QString& path, const ReportInputs& inputs)
{
    QPrinter printer(QPrinter::HighResolution);
    printer.setOutputFormat(QPrinter::PdfFormat);
    printer.setOutputFileName(path);
    printer.setPageSize(QPageSize(QPageSize::A4));
    printer.setPageMargins(QMarginsF(15, 15, 15, 15), QPageLayout::Millimeter);
    // QTextDocument::print lays the text out on the printable area less its own 2 cm margins, with
    // images sized in 96-dpi pixels. A wider curve runs off the page (the right axis and the
    // baseline labels were cut): fit it to the text width.
    constexpr double kPrintMarginsMm = 2 * 20.0;
    constexpr double kCssPixelsPerMm = 96.0 / 25.4;
    const double textWidthMm = printer.pageLayout().paintRect(QPageLayout::Millimeter).width() - kPrintMarginsMm;
    ReportInputs fitted = inputs;
    fitted.curveWidth = std::max(200, int(textWidthMm * kCssPixelsPerMm) - 8);
    QTextDocument document;
    if (!inputs.curve.isNull())
        document.addResource(QTextDocument::ImageResource, QUrl(QStringLiteral("curve.png")), inputs.curve);
    document.setHtml(buildReportHtml(fitted, false));
    document.print(&printer);
    if (!QFileInfo::exists(path) || QFileInfo(path).size() == 0)
        throw sp::Error(sp::fileError(toStd(path), "could not be written; choose a folder you can write to"));
}

} // namespace spui
