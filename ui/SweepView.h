#pragma once
// Compression sweeps: fidelity (held-out s and top-1 agreement) against k and against the
// compression ratio (context tokens / k), one point per run of the sweep.
#include <QWidget>

#include "softprompt/run_store.h"

#include <cstdint>
#include <vector>

class QComboBox;
class QCustomPlot;
class QLabel;

namespace spui {

class RunsModel;
class Session;
class SlurmSweepPanel;

class SweepView : public QWidget {
    Q_OBJECT
public:
    SweepView(Session* session, RunsModel* runs, QWidget* parent = nullptr);

    void refresh();
    void showSweep(std::int64_t sweepId);
    QCustomPlot* kPlot() const { return byK_; }
    QCustomPlot* ratioPlot() const { return byRatio_; }
    QCustomPlot* curvesPlot() const { return curves_; }
    SlurmSweepPanel* gridPanel() const { return gridPanel_; }
    int pointCount() const { return pointCount_; }

private:
    void plotCurrent();
    void plotCurves(const std::vector<sp::StoredSweepPoint>& points);

    Session* session_ = nullptr;
    RunsModel* runs_ = nullptr;
    QComboBox* sweeps_ = nullptr;
    QLabel* note_ = nullptr;
    QCustomPlot* byK_ = nullptr;
    QCustomPlot* byRatio_ = nullptr;
    QCustomPlot* curves_ = nullptr; // train s per step, one line per run of the sweep
    SlurmSweepPanel* gridPanel_ = nullptr;
    int pointCount_ = 0;
};

} // namespace spui
