#include "PlotExport.h"

#include "QtConvert.h"
#include "softprompt/error.h"

#include <QFileInfo>
#include <QSvgGenerator>
#include <qcustomplot.h>

namespace spui {

void exportPlot(QCustomPlot* plot, const QString& path, int width, int height)
{
    const int w = width > 0 ? width : plot->width();
    const int h = height > 0 ? height : plot->height();
    const QString suffix = QFileInfo(path).suffix().toLower();
    bool ok = false;
    if (suffix == QLatin1String("png")) {
        ok = plot->savePng(path, w, h, 2.0);
    } else if (suffix == QLatin1String("pdf")) {
        ok = plot->savePdf(path, w, h);
    } else if (suffix == QLatin1String("svg")) {
        QSvgGenerator generator;
        generator.setFileName(path);
        generator.setSize(QSize(w, h));
        generator.setViewBox(QRect(0, 0, w, h));
        generator.setTitle(QStringLiteral("SoftPrompt Workbench plot"));
        QCPPainter painter;
        ok = painter.begin(&generator);
        if (ok) {
            plot->toPainter(&painter, w, h);
            ok = painter.end();
        }
    } else {
        throw sp::Error(
            sp::fileError(toStd(path), "unknown plot format; use a .png, .pdf or .svg file name"));
    }
    if (!ok || !QFileInfo::exists(path))
        throw sp::Error(sp::fileError(toStd(path), "could not be written; choose a folder you can write to"));
}

QString plotFileFilter()
{
    return QObject::tr("PNG image (*.png);;PDF document (*.pdf);;SVG drawing (*.svg)");
}

QColor conditionColor(sp::Condition condition)
{
    switch (condition) {
    case sp::Condition::FullContext:
        return QColor(0x2c, 0xa0, 0x2c); // green: the upper bound
    case sp::Condition::SoftPrompt:
        return QColor(0x1f, 0x77, 0xb4); // blue: what we train
    case sp::Condition::NoContext:
        return QColor(0xd6, 0x27, 0x28); // red: the lower bound
    case sp::Condition::FirstK:
        return QColor(0xff, 0x7f, 0x0e);
    case sp::Condition::LastK:
        return QColor(0x94, 0x67, 0xbd);
    case sp::Condition::PrunedHardPrompt:
        return QColor(0x8c, 0x56, 0x4b);
    }
    return Qt::gray;
}

QString conditionShortLabel(sp::Condition condition)
{
    switch (condition) {
    case sp::Condition::FullContext:
        return QObject::tr("full context");
    case sp::Condition::SoftPrompt:
        return QObject::tr("σ");
    case sp::Condition::NoContext:
        return QObject::tr("no context");
    case sp::Condition::FirstK:
        return QObject::tr("first k tokens");
    case sp::Condition::LastK:
        return QObject::tr("last k tokens");
    case sp::Condition::PrunedHardPrompt:
        return QObject::tr("pruned to k");
    }
    return {};
}

QColor seriesColor(int index)
{
    static const QColor palette[] = {QColor(0x1f, 0x77, 0xb4), QColor(0xff, 0x7f, 0x0e),
                                     QColor(0x2c, 0xa0, 0x2c), QColor(0xd6, 0x27, 0x28),
                                     QColor(0x94, 0x67, 0xbd), QColor(0x8c, 0x56, 0x4b),
                                     QColor(0xe3, 0x77, 0xc2), QColor(0x7f, 0x7f, 0x7f),
                                     QColor(0xbc, 0xbd, 0x22), QColor(0x17, 0xbe, 0xcf)};
    return palette[index % 10];
}

} // namespace spui
