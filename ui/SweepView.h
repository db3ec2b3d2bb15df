#pragma once
// Compression sweeps: fidelity (held-out s and top-1 agreement) against k and against the
// compression ratio (context tokens / k), one point per run of the sweep.
#include <QWidget>

#include <cstdint>

class QComboBox;
class QCustomPlot;
class QLabel;

namespace spui {

class RunsModel;
class Session;

class SweepView : public QWidget {
    Q_OBJECT
public:
    SweepView(Session* session, RunsModel* runs, QWidget* parent = nullptr);

    void refresh();
    void showSweep(std::int64_t sweepId);
    QCustomPlot* kPlot() const { return byK_; }
    QCustomPlot* ratioPlot() const { return byRatio_; }
    int pointCount() const { return pointCount_; }

private:
    void plotCurrent();

    Session* session_ = nullptr;
    RunsModel* runs_ = nullptr;
    QComboBox* sweeps_ = nullptr;
    QLabel* note_ = nullptr;
    QCustomPlot* byK_ = nullptr;
    QCustomPlot* byRatio_ = nullptr;
    int pointCount_ = 0;
};

} // namespace spui
