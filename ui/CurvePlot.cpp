#include "CurvePlot.h"

#include "PlotExport.h"
#include "QtConvert.h"

#include <QCheckBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QSpinBox>
#include <QTimer>
#include <QVBoxLayout>
#include <qcustomplot.h>

#include <QFontMetricsF>

#include <algorithm>
#include <cmath>

namespace spui {

CurvePlot::CurvePlot(QWidget* parent) : QWidget(parent)
{
    plot_ = new QCustomPlot(this);
    plot_->setObjectName(QStringLiteral("curvePlot"));
    plot_->setMinimumSize(360, 240);
    plot_->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    plot_->axisRect()->setRangeDragAxes(plot_->xAxis, plot_->yAxis);
    plot_->axisRect()->setRangeZoomAxes(plot_->xAxis, plot_->yAxis);
    plot_->xAxis->setLabel(tr("step"));
    plot_->yAxis2->setVisible(true);
    plot_->yAxis2->setLabel(tr("top-1 agreement with the full context (%)"));
    plot_->yAxis2->setRange(0, 105);
    plot_->legend->setVisible(true);
    plot_->legend->setFont(QFont(font().family(), 8));
    // The legend gets a row of its own above the plot, in one line: inside, it covered the curves
    // and the baseline labels at the top.
    plot_->axisRect()->insetLayout()->take(plot_->legend);
    plot_->plotLayout()->insertRow(0);
    plot_->plotLayout()->addElement(0, 0, plot_->legend);
    plot_->plotLayout()->setRowStretchFactor(0, 0.001);
    plot_->legend->setFillOrder(QCPLegend::foColumnsFirst);
    plot_->legend->setBorderPen(Qt::NoPen);

    const QColor trainColor(0x1f, 0x77, 0xb4);
    const QColor heldoutColor(0xff, 0x7f, 0x0e);
    trainRawGraph_ = plot_->addGraph();
    trainRawGraph_->setPen(QPen(QColor(trainColor.red(), trainColor.green(), trainColor.blue(), 60), 1));
    trainRawGraph_->removeFromLegend();
    trainGraph_ = plot_->addGraph();
    trainGraph_->setName(tr("s, train minibatch"));
    trainGraph_->setPen(QPen(trainColor, 2));
    heldoutGraph_ = plot_->addGraph();
    heldoutGraph_->setName(tr("s, held-out"));
    heldoutGraph_->setPen(QPen(heldoutColor, 2));
    heldoutGraph_->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, 5));
    trainTop1Graph_ = plot_->addGraph(plot_->xAxis, plot_->yAxis2);
    trainTop1Graph_->setName(tr("top-1, train"));
    trainTop1Graph_->setPen(QPen(trainColor, 1, Qt::DotLine));
    heldoutTop1Graph_ = plot_->addGraph(plot_->xAxis, plot_->yAxis2);
    heldoutTop1Graph_->setName(tr("top-1, held-out"));
    heldoutTop1Graph_->setPen(QPen(heldoutColor, 1.5, Qt::DashLine));
    heldoutTop1Graph_->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDiamond, 5));

    tracer_ = new QCPItemTracer(plot_);
    tracer_->setGraph(trainGraph_);
    tracer_->setStyle(QCPItemTracer::tsCrosshair);
    tracer_->setPen(QPen(QColor(0, 0, 0, 70)));
    tracer_->setVisible(false);

    replotTimer_ = new QTimer(this);
    replotTimer_->setSingleShot(true);
    replotTimer_->setInterval(kReplotIntervalMs);
    connect(replotTimer_, &QTimer::timeout, this, &CurvePlot::replotNow);

    connect(plot_, &QCustomPlot::afterLayout, this, &CurvePlot::layoutBaselineLabels);
    connect(plot_, &QCustomPlot::mouseMove, this, &CurvePlot::onMouseMove);
    connect(plot_, &QCustomPlot::mousePress, this, [this] { followData_ = false; });
    connect(plot_, &QCustomPlot::mouseWheel, this, [this] { followData_ = false; });
    connect(plot_, &QCustomPlot::mouseDoubleClick, this, [this] { resetView(); });

    logScaleBox_ = new QCheckBox(tr("&Log scale"), this);
    logScaleBox_->setObjectName(QStringLiteral("logScaleBox"));
    connect(logScaleBox_, &QCheckBox::toggled, this, &CurvePlot::setLogScale);
    smoothingBox_ = new QSpinBox(this);
    smoothingBox_->setObjectName(QStringLiteral("smoothingBox"));
    smoothingBox_->setRange(0, 99);
    smoothingBox_->setSuffix(QStringLiteral(" %"));
    smoothingBox_->setToolTip(
        tr("Exponential moving average of the train curve (the raw curve stays faint)"));
    connect(smoothingBox_, qOverload<int>(&QSpinBox::valueChanged), this,
            [this](int percent) { setSmoothing(percent / 100.0); });
    auto* resetButton = new QPushButton(tr("Reset view"), this);
    resetButton->setToolTip(tr("Follow the data again after zooming or panning (or double-click the plot)"));
    connect(resetButton, &QPushButton::clicked, this, &CurvePlot::resetView);
    readout_ = new QLabel(this);
    readout_->setObjectName(QStringLiteral("plotReadout"));
    readout_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    readout_->setText(tr("Hover over the plot to read values; drag to pan, wheel to zoom."));

    auto* controls = new QHBoxLayout;
    controls->addWidget(logScaleBox_);
    controls->addWidget(new QLabel(tr("Smoothing:"), this));
    controls->addWidget(smoothingBox_);
    controls->addWidget(resetButton);
    controls->addStretch(1);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addLayout(controls);
    layout->addWidget(plot_, 1);
    layout->addWidget(readout_);
    setObjective(tr("s"), false);
}

void CurvePlot::setObjective(const QString& label, bool higherIsBetter)
{
    objectiveLabel_ = label;
    higherIsBetter_ = higherIsBetter;
    if (higherIsBetter && logScaleBox_->isChecked())
        logScaleBox_->setChecked(false);
    // A similarity can be ≤ 0, which a log axis cannot show.
    logScaleBox_->setEnabled(!higherIsBetter);
    updateAxisLabel();
    scheduleReplot();
}

void CurvePlot::updateAxisLabel()
{
    plot_->yAxis->setLabel(objectiveLabel_ + (higherIsBetter_ ? tr("   ↑ higher is better (similarity)")
                                                              : tr("   ↓ lower is better (divergence)")));
}

void CurvePlot::clear()
{
    trainSteps_.clear();
    trainS_.clear();
    trainTop1_.clear();
    heldoutSteps_.clear();
    heldoutS_.clear();
    heldoutTop1_.clear();
    for (QCPGraph* graph : {trainGraph_, trainRawGraph_, heldoutGraph_, trainTop1Graph_, heldoutTop1Graph_})
        graph->data()->clear();
    baselines_.clear();
    rebuildBaselineItems();
    tracer_->setVisible(false);
    followData_ = true;
    scheduleReplot();
}

void CurvePlot::addStep(const sp::StepReport& report)
{
    addTrainPoint(report.step, report.trainS, report.trainTop1);
    if (report.hasHeldout)
        addHeldoutPoint(report.step, report.heldoutS, report.heldoutTop1);
}

void CurvePlot::addTrainPoint(double step, double s, double top1)
{
    trainSteps_ << step;
    trainS_ << s;
    trainTop1_ << top1 * 100.0;
    if (trainS_.size() == 1)
        smoothedLast_ = s;
    smoothedLast_ = smoothing_ * smoothedLast_ + (1.0 - smoothing_) * s;
    trainGraph_->addData(step, smoothedLast_);
    if (smoothing_ > 0.0)
        trainRawGraph_->addData(step, s);
    trainTop1Graph_->addData(step, top1 * 100.0);
    scheduleReplot();
}

void CurvePlot::addHeldoutPoint(double step, double s, double top1)
{
    heldoutSteps_ << step;
    heldoutS_ << s;
    heldoutTop1_ << top1 * 100.0;
    heldoutGraph_->addData(step, s);
    heldoutTop1Graph_->addData(step, top1 * 100.0);
    scheduleReplot();
}

void CurvePlot::setBaselines(const std::vector<BaselineLine>& baselines)
{
    baselines_ = baselines;
    rebuildBaselineItems();
    scheduleReplot();
}

void CurvePlot::rebuildBaselineItems()
{
    for (int i = plot_->itemCount() - 1; i >= 0; --i)
        if (plot_->item(i)->property("baseline").toBool())
            plot_->removeItem(i);
    baselineLabels_.clear();
    const bool log = logScale();
    for (const BaselineLine& baseline : baselines_) {
        const QColor color = conditionColor(baseline.condition);
        QString text = tr("%1: s %2 · top-1 %3%")
                           .arg(conditionShortLabel(baseline.condition))
                           .arg(divergenceText(baseline.s, 3))
                           .arg(baseline.top1 * 100.0, 0, 'f', 0);
        // The full context compared with itself leaves rounding noise (s ≈ 1e-10): on a log axis
        // that line would stretch the axis over ten decades of nothing. It reads 0 and sits at the
        // bottom edge instead.
        const bool drawable = !(log && (baseline.s <= 0.0 || isDivergenceNoise(baseline.s)));
        if (!drawable)
            text += log ? tr(" (below the log axis)") : QString();
        if (drawable) {
            auto* line = new QCPItemStraightLine(plot_);
            line->setProperty("baseline", true);
            line->setPen(QPen(color, 1.2, Qt::DashDotLine));
            line->point1->setCoords(0, baseline.s);
            line->point2->setCoords(1, baseline.s);
            line->setSelectable(false);
        }
        auto* label = new QCPItemText(plot_);
        label->setProperty("baseline", true);
        label->setColor(color);
        label->setFont(QFont(font().family(), 8));
        label->setText(text);
        label->setSelectable(false);
        label->setBrush(QBrush(QColor(255, 255, 255, 210))); // legible where lines cross it
        label->setPadding(QMargins(2, 0, 2, 0));
        label->setPositionAlignment(Qt::AlignRight | Qt::AlignBottom);
        label->position->setTypeX(QCPItemPosition::ptAxisRectRatio);
        label->position->setTypeY(QCPItemPosition::ptAbsolute);
        label->position->setCoords(0.99, 0);
        baselineLabels_.push_back({label, baseline.s, drawable});
    }
}

void CurvePlot::layoutBaselineLabels()
{
    if (baselineLabels_.empty())
        return;
    const QRect area = plot_->axisRect()->rect();
    const double spacing = QFontMetricsF(QFont(font().family(), 8)).height() + 1.0;
    struct Placed {
        QCPItemText* item;
        double y; // the label's bottom edge, in pixels
    };
    std::vector<Placed> placed;
    for (const BaselineLabel& label : baselineLabels_) {
        const double y = label.onLine ? plot_->yAxis->coordToPixel(label.s) - 1.0 : area.bottom() - 1.0;
        placed.push_back({label.item, y});
    }
    std::sort(placed.begin(), placed.end(), [](const Placed& a, const Placed& b) { return a.y < b.y; });
    // Top to bottom, each label at least one line below the previous one; then, if that pushed
    // the last ones out of the plot, bottom to top.
    double previous = area.top();
    for (Placed& label : placed) {
        label.y = std::max(label.y, previous + spacing);
        previous = label.y;
    }
    double next = area.bottom() + spacing;
    for (auto it = placed.rbegin(); it != placed.rend(); ++it) {
        it->y = std::min(it->y, next - spacing);
        next = it->y;
    }
    for (const Placed& label : placed)
        label.item->position->setCoords(0.99, label.y);
}

void CurvePlot::setLogScale(bool on)
{
    if (logScaleBox_->isChecked() != on) {
        logScaleBox_->setChecked(on); // re-enters through toggled
        return;
    }
    if (on) {
        plot_->yAxis->setScaleType(QCPAxis::stLogarithmic);
        plot_->yAxis->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
    } else {
        plot_->yAxis->setScaleType(QCPAxis::stLinear);
        plot_->yAxis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
    }
    rebuildBaselineItems();
    followData_ = true;
    scheduleReplot();
}

bool CurvePlot::logScale() const
{
    return plot_->yAxis->scaleType() == QCPAxis::stLogarithmic;
}

void CurvePlot::setSmoothing(double weight)
{
    smoothing_ = std::clamp(weight, 0.0, 0.99);
    if (smoothingBox_->value() != int(std::lround(smoothing_ * 100)))
        smoothingBox_->setValue(int(std::lround(smoothing_ * 100)));
    rebuildSmoothed();
    scheduleReplot();
}

void CurvePlot::rebuildSmoothed()
{
    QVector<double> smoothed(trainS_.size());
    for (int i = 0; i < trainS_.size(); ++i) {
        smoothedLast_ = i == 0 ? trainS_[0] : smoothing_ * smoothedLast_ + (1.0 - smoothing_) * trainS_[i];
        smoothed[i] = smoothedLast_;
    }
    trainGraph_->setData(trainSteps_, smoothed, true);
    if (smoothing_ > 0.0)
        trainRawGraph_->setData(trainSteps_, trainS_, true);
    else
        trainRawGraph_->data()->clear();
}

void CurvePlot::resetView()
{
    followData_ = true;
    scheduleReplot();
}

void CurvePlot::scheduleReplot()
{
    if (!replotTimer_->isActive())
        replotTimer_->start();
}

void CurvePlot::replotNow()
{
    if (followData_) {
        double maxStep = 1.0;
        if (!trainSteps_.isEmpty())
            maxStep = std::max(maxStep, trainSteps_.back());
        if (!heldoutSteps_.isEmpty())
            maxStep = std::max(maxStep, heldoutSteps_.back());
        plot_->xAxis->setRange(0, maxStep * 1.02);

        const bool log = logScale();
        double low = std::numeric_limits<double>::infinity();
        double high = -std::numeric_limits<double>::infinity();
        auto include = [&](double value) {
            if (!std::isfinite(value) || (log && value <= 0.0))
                return;
            low = std::min(low, value);
            high = std::max(high, value);
        };
        for (double value : trainS_)
            include(value);
        for (double value : heldoutS_)
            include(value);
        for (const BaselineLine& baseline : baselines_)
            if (!(log && isDivergenceNoise(baseline.s)))
                include(baseline.s);
        if (!std::isfinite(low)) {
            low = log ? 0.01 : 0.0;
            high = 1.0;
        }
        if (log) {
            plot_->yAxis->setRange(low / 1.5, high * 1.5);
        } else {
            const double pad = std::max((high - low) * 0.08, 1e-6);
            plot_->yAxis->setRange(low - pad, high + pad * 2.5); // room for the legend
        }
    }
    plot_->replot();
    ++replotCount_;
    emit replotted();
}

void CurvePlot::onMouseMove(QMouseEvent* event)
{
    if (trainSteps_.isEmpty())
        return;
    showReadoutAt(plot_->xAxis->pixelToCoord(event->position().x()));
}

void CurvePlot::showReadoutAt(double step)
{
    if (trainSteps_.isEmpty())
        return;
    auto nearest = [](const QVector<double>& steps, double x) {
        const auto it = std::lower_bound(steps.begin(), steps.end(), x);
        if (it == steps.end())
            return int(steps.size()) - 1;
        if (it == steps.begin())
            return 0;
        const int i = int(it - steps.begin());
        return (x - steps[i - 1] <= steps[i] - x) ? i - 1 : i;
    };
    const int t = nearest(trainSteps_, step);
    QString text = tr("step %1 · train s %2 · train top-1 %3%")
                       .arg(trainSteps_[t])
                       .arg(trainS_[t], 0, 'g', 4)
                       .arg(trainTop1_[t], 0, 'f', 0);
    if (smoothing_ > 0.0) {
        const auto data = trainGraph_->data();
        const auto it = data->findBegin(trainSteps_[t], false);
        if (it != data->constEnd())
            text += tr(" (smoothed %1)").arg(it->value, 0, 'g', 4);
    }
    if (!heldoutSteps_.isEmpty()) {
        const int h = nearest(heldoutSteps_, step);
        text += tr("  |  held-out at step %1: s %2 · top-1 %3%")
                    .arg(heldoutSteps_[h])
                    .arg(heldoutS_[h], 0, 'g', 4)
                    .arg(heldoutTop1_[h], 0, 'f', 0);
    }
    readout_->setText(text);
    tracer_->setGraphKey(trainSteps_[t]);
    tracer_->setVisible(true);
    plot_->replot(QCustomPlot::rpQueuedReplot);
}

QString CurvePlot::hoverText() const
{
    return readout_->text();
}

} // namespace spui
