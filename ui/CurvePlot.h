#pragma once
// The live training curve: s(ŷ, ŷ_σ) on the train minibatches and on the held-out queries against
// the step, top-1 agreement on a second axis, and the baselines as labelled reference lines.
//
// Points arrive one step at a time from the training worker; the plot is redrawn on a single-shot
// timer so that a burst of steps costs one replot, never one per step.
#include "softprompt/engine.h"

#include <QVector>
#include <QWidget>

#include <vector>

class QCustomPlot;
class QCPGraph;
class QCPItemText;
class QCPItemTracer;
class QCheckBox;
class QLabel;
class QSpinBox;
class QTimer;
class QMouseEvent;

namespace spui {

struct BaselineLine {
    sp::Condition condition = sp::Condition::NoContext;
    double s = 0.0;
    double top1 = 0.0; // agreement with the teacher, 0..1
};

class CurvePlot : public QWidget {
    Q_OBJECT
public:
    explicit CurvePlot(QWidget* parent = nullptr);

    // Sets the axis label and direction ("lower is better" / "higher is better").
    void setObjective(const QString& label, bool higherIsBetter);
    bool higherIsBetter() const { return higherIsBetter_; }
    void clear(); // a new run

    void addStep(const sp::StepReport& report);
    void addTrainPoint(double step, double s, double top1);
    void addHeldoutPoint(double step, double s, double top1);
    void setBaselines(const std::vector<BaselineLine>& baselines);
    const std::vector<BaselineLine>& baselines() const { return baselines_; }

    void setLogScale(bool on);
    bool logScale() const;
    // Exponential moving average weight for the train curve, 0 (raw) .. 0.99, as in TensorBoard.
    void setSmoothing(double weight);
    void resetView(); // back to following the data

    int trainPointCount() const { return int(trainSteps_.size()); }
    int heldoutPointCount() const { return int(heldoutSteps_.size()); }
    int replotCount() const { return replotCount_; }
    // Updates arriving within this time of a replot are merged into the next one: at most ~12
    // redraws per second whatever the step rate.
    static constexpr int kReplotIntervalMs = 80;
    QString hoverText() const;
    QCustomPlot* plot() const { return plot_; }

    // Shows the read-out for the step nearest to `step` (the mouse does this; tests call it).
    void showReadoutAt(double step);

signals:
    void replotted();

private:
    void scheduleReplot();
    void replotNow();
    void rebuildSmoothed();
    void rebuildBaselineItems();
    void layoutBaselineLabels(); // keeps the labels next to their lines without overlapping
    void updateAxisLabel();
    void onMouseMove(QMouseEvent* event);

    QCustomPlot* plot_ = nullptr;
    QCPGraph* trainGraph_ = nullptr;
    QCPGraph* trainRawGraph_ = nullptr;
    QCPGraph* heldoutGraph_ = nullptr;
    QCPGraph* trainTop1Graph_ = nullptr;
    QCPGraph* heldoutTop1Graph_ = nullptr;
    QCPItemTracer* tracer_ = nullptr;
    QCheckBox* logScaleBox_ = nullptr;
    QSpinBox* smoothingBox_ = nullptr;
    QLabel* readout_ = nullptr;
    QTimer* replotTimer_ = nullptr;

    QString objectiveLabel_;
    bool higherIsBetter_ = false;
    double smoothing_ = 0.0;
    bool followData_ = true;
    int replotCount_ = 0;

    QVector<double> trainSteps_, trainS_, trainTop1_;
    QVector<double> heldoutSteps_, heldoutS_, heldoutTop1_;
    double smoothedLast_ = 0.0;
    std::vector<BaselineLine> baselines_;
    struct BaselineLabel {
        QCPItemText* item = nullptr;
        double s = 0.0;
        bool onLine = true; // false on a log axis for s <= 0: the label lists it at the top
    };
    std::vector<BaselineLabel> baselineLabels_;
};

} // namespace spui
