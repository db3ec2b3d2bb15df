#include "SweepView.h"

#include "PlotExport.h"
#include "QtConvert.h"
#include "RunsModel.h"
#include "Session.h"
#include "SlurmSweepPanel.h"

#include <QComboBox>
#include <QDateTime>
#include <QHBoxLayout>
#include <QLabel>
#include <QLocale>
#include <QPushButton>
#include <QVBoxLayout>
#include <qcustomplot.h>

namespace spui {
namespace {

void setUpPlot(QCustomPlot* plot, const QString& xLabel)
{
    plot->setMinimumSize(300, 240);
    plot->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    plot->xAxis->setLabel(xLabel);
    plot->xAxis->setScaleType(QCPAxis::stLogarithmic);
    QSharedPointer<QCPAxisTickerLog> ticker(new QCPAxisTickerLog);
    ticker->setLogBase(2);
    plot->xAxis->setTicker(ticker);
    plot->yAxis->setLabel(QObject::tr("final held-out s"));
    plot->yAxis2->setVisible(true);
    plot->yAxis2->setLabel(QObject::tr("held-out top-1 agreement (%)"));
    plot->yAxis2->setRange(0, 105);
    plot->legend->setVisible(true);
    plot->legend->setFont(QFont(plot->font().family(), 8));
    // The legend gets a row of its own under the plot: inside the axis rect it hid a point.
    plot->axisRect()->insetLayout()->take(plot->legend);
    plot->plotLayout()->addElement(1, 0, plot->legend);
    plot->plotLayout()->setRowStretchFactor(1, 0.001);
    plot->legend->setFillOrder(QCPLegend::foColumnsFirst);
    plot->legend->setBorderPen(Qt::NoPen);
}

} // namespace

SweepView::SweepView(Session* session, RunsModel* runs, QWidget* parent)
    : QWidget(parent), session_(session), runs_(runs)
{
    sweeps_ = new QComboBox(this);
    sweeps_->setObjectName(QStringLiteral("sweepCombo"));
    auto* refreshButton = new QPushButton(tr("&Refresh"), this);
    note_ = new QLabel(this);
    note_->setWordWrap(true);
    note_->setObjectName(QStringLiteral("sweepNote"));
    byK_ = new QCustomPlot(this);
    byK_->setObjectName(QStringLiteral("sweepByK"));
    setUpPlot(byK_, tr("k (soft-prompt vectors)"));
    byRatio_ = new QCustomPlot(this);
    byRatio_->setObjectName(QStringLiteral("sweepByRatio"));
    setUpPlot(byRatio_, tr("compression ratio (context tokens / k)"));

    curves_ = new QCustomPlot(this);
    curves_->setObjectName(QStringLiteral("sweepCurves"));
    curves_->setMinimumSize(300, 240);
    curves_->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    curves_->xAxis->setLabel(tr("step"));
    curves_->yAxis->setLabel(tr("train s (each run of the sweep)"));
    gridPanel_ = new SlurmSweepPanel(
        [this] { return runs_->store() ? toQ(runs_->store()->path()) : QString(); }, this);
    connect(gridPanel_, &SlurmSweepPanel::sweepUpdated, this, [this](qint64 sweepId) {
        runs_->refresh();
        refresh();
        if (sweepId > 0)
            showSweep(sweepId);
    });

    auto* top = new QHBoxLayout;
    top->addWidget(new QLabel(tr("Sweep:"), this));
    top->addWidget(sweeps_, 1);
    top->addWidget(refreshButton);
    auto* plots = new QHBoxLayout;
    plots->addWidget(byK_, 1);
    plots->addWidget(byRatio_, 1);
    plots->addWidget(curves_, 1);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(top);
    layout->addWidget(note_);
    layout->addLayout(plots, 3);
    layout->addWidget(gridPanel_, 2);

    connect(refreshButton, &QPushButton::clicked, this, &SweepView::refresh);
    connect(sweeps_, qOverload<int>(&QComboBox::currentIndexChanged), this, &SweepView::plotCurrent);
    connect(session_, &Session::outcomeChanged, this, [this] {
        if (session_->lastOutcome().sweepId > 0) {
            refresh();
            showSweep(session_->lastOutcome().sweepId);
        }
    });
}

void SweepView::refresh()
{
    const qint64 current = sweeps_->currentData().toLongLong();
    sweeps_->blockSignals(true);
    sweeps_->clear();
    if (sp::RunStore* store = runs_->store()) {
        try {
            std::vector<sp::SweepRecord> sweeps = store->listSweeps();
            std::sort(sweeps.begin(), sweeps.end(), [](const auto& a, const auto& b) { return a.id > b.id; });
            for (const sp::SweepRecord& sweep : sweeps)
                sweeps_->addItem(
                    tr("#%1 %2 (%3 runs, %4)")
                        .arg(sweep.id)
                        .arg(toQ(sweep.name))
                        .arg(sweep.runIds.size())
                        .arg(QLocale().toString(QDateTime::fromMSecsSinceEpoch(sweep.createdAtMs),
                                                QLocale::ShortFormat)),
                    qint64(sweep.id));
        } catch (const std::exception& e) {
            note_->setText(tr("Could not read the sweeps: %1").arg(errorText(e)));
        }
    }
    const int index = sweeps_->findData(current);
    sweeps_->setCurrentIndex(index >= 0 ? index : (sweeps_->count() > 0 ? 0 : -1));
    sweeps_->blockSignals(false);
    plotCurrent();
}

void SweepView::showSweep(std::int64_t sweepId)
{
    const int index = sweeps_->findData(qint64(sweepId));
    if (index >= 0)
        sweeps_->setCurrentIndex(index);
    plotCurrent();
}

void SweepView::plotCurrent()
{
    pointCount_ = 0;
    for (QCustomPlot* plot : {byK_, byRatio_, curves_}) {
        plot->clearGraphs();
        plot->clearItems();
    }
    sp::RunStore* store = runs_->store();
    const qint64 sweepId = sweeps_->currentData().toLongLong();
    if (!store || sweepId <= 0) {
        note_->setText(
            tr("No sweep yet. On the Train tab, \"Run sweep\" trains σ once per k and plots how much "
               "of the context survives at each compression ratio."));
        byK_->replot();
        byRatio_->replot();
        curves_->replot();
        return;
    }
    std::vector<sp::StoredSweepPoint> sPoints, topPoints;
    try {
        sPoints = store->sweepPoints(sweepId, sp::metric_key::HeldoutS);
        topPoints = store->sweepPoints(sweepId, sp::metric_key::HeldoutTop1);
    } catch (const std::exception& e) {
        note_->setText(tr("Could not read the sweep: %1").arg(errorText(e)));
        return;
    }
    QVector<double> ks, ratios, s, kTop, ratioTop, top;
    for (const sp::StoredSweepPoint& point : sPoints) {
        if (!point.hasValue)
            continue;
        ks << point.k;
        ratios << point.compressionRatio;
        s << point.last;
    }
    for (const sp::StoredSweepPoint& point : topPoints) {
        if (!point.hasValue)
            continue;
        kTop << point.k;
        ratioTop << point.compressionRatio;
        top << point.last * 100.0;
    }
    pointCount_ = int(ks.size());
    int unfinished = 0;
    for (const sp::StoredSweepPoint& point : sPoints)
        unfinished += point.status == sp::RunStatus::Finished ? 0 : 1;
    note_->setText(
        tr("%1 runs with a held-out value%2. Fidelity is the last held-out evaluation of each run; "
           "lower s is better for a divergence.")
            .arg(pointCount_)
            .arg(unfinished ? tr(" (%1 not finished)").arg(unfinished) : QString()));
    auto addSeries = [](QCustomPlot* plot, const QVector<double>& x, const QVector<double>& y,
                        const QVector<double>& xTop, const QVector<double>& yTop) {
        QCPGraph* sGraph = plot->addGraph();
        sGraph->setName(QObject::tr("held-out s (σ)"));
        sGraph->setPen(QPen(conditionColor(sp::Condition::SoftPrompt), 2));
        sGraph->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, 7));
        sGraph->setData(x, y);
        QCPGraph* topGraph = plot->addGraph(plot->xAxis, plot->yAxis2);
        topGraph->setName(QObject::tr("held-out top-1 (σ)"));
        topGraph->setPen(QPen(QColor(0xff, 0x7f, 0x0e), 1.5, Qt::DashLine));
        topGraph->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDiamond, 7));
        topGraph->setData(xTop, yTop);
        sGraph->rescaleAxes();
        plot->xAxis->scaleRange(1.3, plot->xAxis->range().center());
        plot->yAxis->scaleRange(1.2, plot->yAxis->range().center());
        plot->replot();
    };
    addSeries(byK_, ks, s, kTop, top);
    addSeries(byRatio_, ratios, s, ratioTop, top);
    plotCurves(sPoints);
}

void SweepView::plotCurves(const std::vector<sp::StoredSweepPoint>& points)
{
    sp::RunStore* store = runs_->store();
    std::vector<std::int64_t> runIds;
    for (const sp::StoredSweepPoint& point : points)
        runIds.push_back(point.runId);
    std::vector<sp::MetricCurve> curves;
    try {
        curves = store->curves(runIds, {sp::metric_key::TrainS});
    } catch (const std::exception&) {
        curves_->replot();
        return;
    }
    const int count = int(curves.size());
    for (int i = 0; i < count; ++i) {
        const sp::MetricCurve& curve = curves[std::size_t(i)];
        QCPGraph* graph = curves_->addGraph();
        graph->setPen(QPen(QColor::fromHsv((i * 360) / std::max(1, count), 180, 200), 1.4));
        QVector<double> x, y;
        for (std::size_t j = 0; j < curve.steps.size(); ++j) {
            x << curve.steps[j];
            y << curve.values[j];
        }
        graph->setData(x, y);
    }
    curves_->rescaleAxes();
    curves_->replot();
}

} // namespace spui
