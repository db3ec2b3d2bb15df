#pragma once
// The one-click stakeholder report: model, context size, k, compression ratio, the training curve,
// the baseline comparison and example predictions, as HTML (self-contained, the curve embedded)
// or as PDF through QPrinter.
#include <QImage>
#include <QString>

namespace spui {

class Session;

struct ReportInputs {
    const Session* session = nullptr;
    QImage curve;     // the training curve as shown
    int examples = 8; // predictions listed: the worst half and the best half
    int curveWidth = 860; // the curve's width on the page, in CSS pixels (the PDF sets its own)
    QString coverageHtml; // the coverage map's section (coverageReportHtml), when one was computed
};

// `embedImages`: data: URLs for a standalone .html; otherwise "curve.png" resource names that
// the PDF writer registers with the QTextDocument.
QString buildReportHtml(const ReportInputs& inputs, bool embedImages);

// Throws sp::Error naming the file when it cannot be written, or when there is nothing to report.
void writeReportHtml(const QString& path, const ReportInputs& inputs);
void writeReportPdf(const QString& path, const ReportInputs& inputs);

} // namespace spui
