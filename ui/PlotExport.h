#pragma once
// Saving any QCustomPlot as PNG, PDF or SVG (by the file's extension), and the colours every plot
// in the workbench shares so a condition looks the same everywhere.
#include "softprompt/engine.h"

#include <QColor>
#include <QString>

class QCustomPlot;

namespace spui {

// Throws sp::Error naming the file and what to do. Width/height 0 = the plot's current size.
void exportPlot(QCustomPlot* plot, const QString& path, int width = 0, int height = 0);

// The file dialog filter for exportPlot.
QString plotFileFilter();

QColor conditionColor(sp::Condition condition);
QString conditionShortLabel(sp::Condition condition); // "full context", "σ", "no context", ...
QColor seriesColor(int index);                        // a qualitative palette for run overlays

} // namespace spui
