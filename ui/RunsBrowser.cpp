#include "RunsBrowser.h"
#include "softprompt/prompt_pieces_json.h"
#include "softprompt/train_config_json.h"

#include "Dialogs.h"
#include "PlotExport.h"
#include "QtConvert.h"
#include "RunsModel.h"
#include "Session.h"
#include "softprompt/error.h"
#include "softprompt/run_recording.h"

#include <QCheckBox>
#include <QComboBox>
#include <QFileInfo>
#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QSaveFile>
#include <QJsonObject>
#include <QJsonDocument>
#include <QDialog>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSettings>
#include <QSortFilterProxyModel>
#include <QSpinBox>
#include <QSplitter>
#include <QTableView>
#include <QTableWidget>
#include <QVBoxLayout>
#include <qcustomplot.h>

#include <cmath>
#include <set>

namespace spui {
namespace {

QString jsonText(const nlohmann::json& value)
{
    if (value.is_null())
        return QObject::tr("(absent)");
    if (value.is_string())
        return toQ(value.get<std::string>());
    return toQ(value.dump());
}

} // namespace

RunsBrowser::RunsBrowser(Session* session, QWidget* parent) : QWidget(parent), session_(session)
{
    model_ = new RunsModel(this);
    proxy_ = new QSortFilterProxyModel(this);
    proxy_->setSourceModel(model_);
    proxy_->setSortRole(RunsModel::SortRole);
    table_ = new QTableView(this);
    table_->setObjectName(QStringLiteral("runsTable"));
    table_->setModel(proxy_);
    table_->setSortingEnabled(true);
    table_->sortByColumn(RunsModel::IdColumn, Qt::DescendingOrder);
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->setSelectionMode(QAbstractItemView::ExtendedSelection);
    table_->setEditTriggers(QAbstractItemView::DoubleClicked | QAbstractItemView::EditKeyPressed);
    table_->horizontalHeader()->setStretchLastSection(true);
    table_->verticalHeader()->setVisible(false);
    table_->verticalHeader()->setDefaultSectionSize(22);

    filterText_ = new QLineEdit(this);
    filterText_->setObjectName(QStringLiteral("runsFilter"));
    filterText_->setPlaceholderText(tr("Filter by name, notes, tags, model or device"));
    filterText_->setClearButtonEnabled(true);
    statusFilter_ = new QComboBox(this);
    statusFilter_->addItem(tr("any status"), QString());
    for (sp::RunStatus status : {sp::RunStatus::Finished, sp::RunStatus::Running, sp::RunStatus::Cancelled,
                                 sp::RunStatus::Failed, sp::RunStatus::Interrupted})
        statusFilter_->addItem(runStatusText(status), toQ(sp::runStatusKey(status)));
    tagFilter_ = new QComboBox(this);
    tagFilter_->setObjectName(QStringLiteral("tagFilter"));
    contextFilter_ = new QComboBox(this);
    contextFilter_->setObjectName(QStringLiteral("contextFilter"));
    contextFilter_->setToolTip(tr("Show the runs trained on one context"));
    contextFilter_->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    contextFilter_->setMinimumContentsLength(18);
    auto* refreshButton = new QPushButton(tr("&Refresh"), this);
    refreshButton->setShortcut(QKeySequence::Refresh);
    storeLabel_ = new QLabel(this);
    storeLabel_->setObjectName(QStringLiteral("storeLabel"));
    storeLabel_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    storeLabel_->setWordWrap(true);
    connect(filterText_, &QLineEdit::textChanged, this, &RunsBrowser::applyFilter);
    connect(statusFilter_, qOverload<int>(&QComboBox::currentIndexChanged), this, &RunsBrowser::applyFilter);
    connect(tagFilter_, qOverload<int>(&QComboBox::currentIndexChanged), this, &RunsBrowser::applyFilter);
    connect(contextFilter_, qOverload<int>(&QComboBox::currentIndexChanged), this, &RunsBrowser::applyFilter);
    connect(refreshButton, &QPushButton::clicked, this, &RunsBrowser::refresh);

    auto makeButton = [this](const QString& text, const char* name, auto slot) {
        auto* button = new QPushButton(text, this);
        button->setObjectName(QLatin1String(name));
        connect(button, &QPushButton::clicked, this, slot);
        return button;
    };
    openButton_ = makeButton(tr("&Open in Compare"), "openRunButton", &RunsBrowser::openInCompare);
    configButton_ =
        makeButton(tr("Load &config into editor"), "loadConfigButton", &RunsBrowser::loadConfigIntoEditor);
    restoreWorkButton_ = makeButton(tr("Restore wor&k"), "restoreWorkButton",
                                    &RunsBrowser::restoreWorkFromRun);
    restoreWorkButton_->setToolTip(tr("Restore context and queries from this run: its context, query set and "
                                      "settings go back into the editors (asks first when there is unsaved "
                                      "work)"));
    diffButton_ = makeButton(tr("&Diff two runs…"), "diffRunsButton", &RunsBrowser::showDiff);
    sigmaButton_ =
        makeButton(tr("Export σ (safetensors)…"), "exportSigmaButton", [this] { exportSigma(false); });
    peftButton_ = makeButton(tr("Export PEFT adapter…"), "exportPeftButton", [this] { exportSigma(true); });
    csvButton_ = makeButton(tr("Export curve CSV…"), "exportCurveButton", &RunsBrowser::exportCurveCsv);
    deleteButton_ = makeButton(tr("De&lete"), "deleteRunButton", [this] { deleteSelected(true); });
    deleteButton_->setShortcut(QKeySequence::Delete);

    overlayMetric_ = new QComboBox(this);
    overlayMetric_->setObjectName(QStringLiteral("overlayMetric"));
    overlayMetric_->addItem(tr("held-out s"), QLatin1String(sp::metric_key::HeldoutS));
    overlayMetric_->addItem(tr("train s"), QLatin1String(sp::metric_key::TrainS));
    overlayMetric_->addItem(tr("held-out top-1 agreement"), QLatin1String(sp::metric_key::HeldoutTop1));
    overlayMetric_->addItem(tr("train top-1 agreement"), QLatin1String(sp::metric_key::TrainTop1));
    overlayMetric_->addItem(tr("learning rate"), QLatin1String(sp::metric_key::LearningRate));
    overlayMetric_->addItem(tr("gradient norm"), QLatin1String(sp::metric_key::GradNorm));
    connect(overlayMetric_, qOverload<int>(&QComboBox::currentIndexChanged), this,
            &RunsBrowser::updateOverlay);
    overlayLog_ = new QCheckBox(tr("Lo&g scale"), this);
    overlayLog_->setObjectName(QStringLiteral("overlayLogScale"));
    overlayLog_->setChecked(true); // divergences span orders of magnitude
    overlayLog_->setToolTip(tr("Logarithmic y axis; values ≤ 0 are left out"));
    connect(overlayLog_, &QCheckBox::toggled, this, &RunsBrowser::updateOverlay);
    overlaySmoothing_ = new QSpinBox(this);
    overlaySmoothing_->setObjectName(QStringLiteral("overlaySmoothing"));
    overlaySmoothing_->setRange(0, 99);
    overlaySmoothing_->setSuffix(QStringLiteral(" %"));
    overlaySmoothing_->setPrefix(tr("smooth "));
    overlaySmoothing_->setToolTip(tr("Exponential moving average of each curve (0 = raw, 99 = smoothest), as "
                                     "TensorBoard's smoothing slider"));
    connect(overlaySmoothing_, qOverload<int>(&QSpinBox::valueChanged), this, &RunsBrowser::updateOverlay);
    // A metric that may be 0 (agreements) reads better on a linear axis.
    connect(overlayMetric_, qOverload<int>(&QComboBox::currentIndexChanged), this, [this] {
        const QString key = overlayMetric_->currentData().toString();
        overlayLog_->setChecked(key == QLatin1String(sp::metric_key::HeldoutS) ||
                                key == QLatin1String(sp::metric_key::TrainS));
    });
    overlay_ = new QCustomPlot(this);
    overlay_->setObjectName(QStringLiteral("runsOverlay"));
    overlay_->setMinimumSize(320, 220);
    overlay_->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    overlay_->xAxis->setLabel(tr("step"));
    overlay_->legend->setVisible(false);
    overlay_->legend->setFont(QFont(font().family(), 8));

    detailLabel_ = new QLabel(this);
    detailLabel_->setObjectName(QStringLiteral("runDetail"));
    detailLabel_->setWordWrap(true);
    detailLabel_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    tagsEdit_ = new QLineEdit(this);
    tagsEdit_->setObjectName(QStringLiteral("runTagsEdit"));
    tagsEdit_->setPlaceholderText(tr("comma-separated tags"));
    notesEdit_ = new QPlainTextEdit(this);
    notesEdit_->setObjectName(QStringLiteral("runNotesEdit"));
    notesEdit_->setPlaceholderText(tr("Notes on this run"));
    notesEdit_->setMaximumHeight(90);
    saveDetailsButton_ =
        makeButton(tr("&Save tags and notes"), "saveRunDetailsButton", &RunsBrowser::saveDetails);

    auto* filters = new QHBoxLayout;
    filters->addWidget(filterText_, 1);
    filters->addWidget(statusFilter_);
    filters->addWidget(tagFilter_);
    filters->addWidget(contextFilter_);
    filters->addWidget(refreshButton);
    auto* actions = new QHBoxLayout;
    for (QPushButton* button :
         {openButton_, configButton_, restoreWorkButton_, diffButton_, sigmaButton_, peftButton_, csvButton_})
        actions->addWidget(button);
    actions->addStretch(1);
    actions->addWidget(deleteButton_);

    auto* details = new QGroupBox(tr("Selected run"), this);
    auto* detailsLayout = new QFormLayout(details);
    detailsLayout->addRow(detailLabel_);
    detailsLayout->addRow(tr("Tags:"), tagsEdit_);
    detailsLayout->addRow(tr("Notes:"), notesEdit_);
    detailsLayout->addRow(saveDetailsButton_);
    auto* right = new QWidget(this);
    auto* rightLayout = new QVBoxLayout(right);
    rightLayout->setContentsMargins(0, 0, 0, 0);
    auto* metricRow = new QHBoxLayout;
    metricRow->addWidget(new QLabel(tr("Overlay of the selected runs:"), this));
    metricRow->addWidget(overlayMetric_, 1);
    metricRow->addWidget(overlayLog_);
    metricRow->addWidget(overlaySmoothing_);
    rightLayout->addLayout(metricRow);
    rightLayout->addWidget(overlay_, 1);
    rightLayout->addWidget(details);
    auto* splitter = new QSplitter(Qt::Horizontal, this);
    splitter->addWidget(table_);
    splitter->addWidget(right);
    splitter->setStretchFactor(0, 3);
    splitter->setStretchFactor(1, 2);

    auto* layout = new QVBoxLayout(this);
    layout->addLayout(filters);
    layout->addWidget(splitter, 1);
    layout->addLayout(actions);
    layout->addWidget(storeLabel_);

    connect(table_->selectionModel(), &QItemSelectionModel::selectionChanged, this, [this] {
        onCurrentRunChanged();
        updateOverlay();
        updateButtons();
    });
    connect(table_, &QTableView::doubleClicked, this, [this](const QModelIndex& index) {
        if (!(proxy_->flags(index) & Qt::ItemIsEditable))
            openInCompare();
    });
    connect(model_, &RunsModel::storeError, this, [this](const QString& message) {
        storeLabel_->setText(tr("<b>The run database cannot be used:</b> %1").arg(message.toHtmlEscaped()));
    });
    connect(session_, &Session::databasePathChanged, this, &RunsBrowser::reopenStore);
    connect(session_, &Session::outcomeChanged, this, [this] {
        if (session_->lastOutcome().runId > 0)
            refresh();
    });
    updateButtons();
}

void RunsBrowser::reopenStore()
{
    if (model_->openStore(session_->databasePath()))
        storeLabel_->setText(
            tr("Runs database: %1 (shared with the softprompt CLI)").arg(session_->databasePath()));
    refresh();
}

void RunsBrowser::refresh()
{
    const std::vector<std::int64_t> selected = selectedRunIds();
    if (!model_->store()) {
        model_->openStore(session_->databasePath());
        if (model_->store())
            storeLabel_->setText(
                tr("Runs database: %1 (shared with the softprompt CLI)").arg(session_->databasePath()));
    }
    model_->refresh();
    if (sp::RunStore* store = model_->store()) {
        const QString currentTag = tagFilter_->currentData().toString();
        tagFilter_->blockSignals(true);
        tagFilter_->clear();
        tagFilter_->addItem(tr("any tag"), QString());
        try {
            for (const std::string& tag : store->allTags())
                tagFilter_->addItem(toQ(tag), toQ(tag));
        } catch (const std::exception&) {
            // The list of tags is a convenience; the runs themselves are already shown.
        }
        tagFilter_->setCurrentIndex(std::max(0, tagFilter_->findData(currentTag)));
        tagFilter_->blockSignals(false);
        const qint64 currentContext = contextFilter_->currentData().toLongLong();
        contextFilter_->blockSignals(true);
        contextFilter_->clear();
        contextFilter_->addItem(tr("any context"), qint64(0));
        for (const auto& [id, label] : model_->contextLabels()) {
            contextFilter_->addItem(tr("#%1 %2").arg(id).arg(label), qint64(id));
            contextFilter_->setItemData(contextFilter_->count() - 1, label, Qt::ToolTipRole);
        }
        contextFilter_->setCurrentIndex(std::max(0, contextFilter_->findData(currentContext)));
        contextFilter_->blockSignals(false);
    }
    // Keep the selection; with none, select the newest run so the overlay and details show something.
    if (selected.empty() && model_->rowCount() > 0)
        selectRuns({proxy_->data(proxy_->index(0, 0), RunsModel::RunIdRole).toLongLong()});
    else
        selectRuns(selected);
    table_->resizeColumnsToContents();
    for (int column = 0; column < model_->columnCount(); ++column)
        table_->setColumnWidth(column, std::min(table_->columnWidth(column), 220));
    onCurrentRunChanged();
    updateOverlay();
    updateButtons();
}

void RunsBrowser::applyFilter()
{
    sp::RunFilter filter;
    filter.text = toStd(filterText_->text().trimmed());
    const QString status = statusFilter_->currentData().toString();
    if (!status.isEmpty())
        filter.status = sp::runStatusFromKey(toStd(status));
    filter.tag = toStd(tagFilter_->currentData().toString());
    if (const qint64 context = contextFilter_->currentData().toLongLong(); context > 0)
        filter.contextId = context;
    model_->setFilter(filter);
    updateOverlay();
    updateButtons();
}

std::vector<std::int64_t> RunsBrowser::selectedRunIds() const
{
    std::vector<std::int64_t> ids;
    for (const QModelIndex& index : table_->selectionModel()->selectedRows())
        ids.push_back(proxy_->data(index, RunsModel::RunIdRole).toLongLong());
    std::sort(ids.begin(), ids.end());
    return ids;
}

void RunsBrowser::selectRuns(const std::vector<std::int64_t>& runIds)
{
    table_->clearSelection();
    for (std::int64_t id : runIds) {
        const int row = model_->rowOfRun(id);
        if (row < 0)
            continue;
        const QModelIndex index = proxy_->mapFromSource(model_->index(row, 0));
        table_->selectionModel()->select(index, QItemSelectionModel::Select | QItemSelectionModel::Rows);
        table_->selectionModel()->setCurrentIndex(index, QItemSelectionModel::NoUpdate);
    }
}

void RunsBrowser::updateButtons()
{
    const size_t count = selectedRunIds().size();
    for (QPushButton* button :
         {openButton_, configButton_, restoreWorkButton_, sigmaButton_, peftButton_, csvButton_})
        button->setEnabled(count == 1);
    diffButton_->setEnabled(count == 2);
    deleteButton_->setEnabled(count >= 1);
    saveDetailsButton_->setEnabled(count == 1);
}

void RunsBrowser::onCurrentRunChanged()
{
    const std::vector<std::int64_t> ids = selectedRunIds();
    const int row = ids.size() == 1 ? model_->rowOfRun(ids.front()) : -1;
    const sp::RunRecord* run = model_->runAt(row);
    if (!run) {
        detailLabel_->setText(ids.empty()
                                  ? tr("Select a run; select several to overlay their curves, two to diff.")
                                  : tr("%1 runs selected.").arg(ids.size()));
        tagsEdit_->clear();
        notesEdit_->clear();
        return;
    }
    QString text =
        tr("<b>Run %1</b> · %2 · %3 · device %4 · %5 steps")
            .arg(run->id)
            .arg(runStatusText(run->status), toQ(run->model.path).toHtmlEscaped(), toQ(run->device))
            .arg(run->lastStep);
    if (run->summary.contains("compression_ratio"))
        text += tr(" · compression %1×").arg(run->summary.value("compression_ratio", 0.0), 0, 'f', 1);
    if (!run->error.empty())
        text += QStringLiteral("<br><font color='#b02020'>%1</font>").arg(toQ(run->error).toHtmlEscaped());
    detailLabel_->setText(text);
    tagsEdit_->setText(toQList(run->tags).join(QStringLiteral(", ")));
    notesEdit_->setPlainText(toQ(run->notes));
}

void RunsBrowser::saveDetails()
{
    const std::vector<std::int64_t> ids = selectedRunIds();
    if (ids.size() != 1)
        return;
    const int row = model_->rowOfRun(ids.front());
    model_->setData(model_->index(row, RunsModel::TagsColumn), tagsEdit_->text());
    model_->setData(model_->index(row, RunsModel::NotesColumn), notesEdit_->toPlainText());
    refresh();
}

void RunsBrowser::updateOverlay()
{
    overlay_->clearGraphs();
    // Log scale suits divergences, not agreements, rates or norms that may be 0.
    const bool log = overlayLog_->isChecked();
    overlay_->yAxis->setScaleType(log ? QCPAxis::stLogarithmic : QCPAxis::stLinear);
    if (log)
        overlay_->yAxis->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
    else
        overlay_->yAxis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
    const std::string metric = toStd(overlayMetric_->currentData().toString());
    overlay_->yAxis->setLabel(overlayMetric_->currentText());
    sp::RunStore* store = model_->store();
    const std::vector<std::int64_t> ids = selectedRunIds();
    if (store && !ids.empty()) {
        std::vector<sp::MetricCurve> curves;
        try {
            curves = store->curves(ids, {metric});
        } catch (const std::exception& e) {
            storeLabel_->setText(tr("Could not read the curves: %1").arg(toQ(e.what())));
        }
        int index = 0;
        for (const sp::MetricCurve& curve : curves) {
            QCPGraph* graph = overlay_->addGraph();
            const int row = model_->rowOfRun(curve.runId);
            const sp::RunRecord* run = model_->runAt(row);
            // Short legend entries: the run and what tells runs apart most often.
            graph->setName(run ? tr("#%1 · k=%2 · %3 · %4")
                                     .arg(curve.runId)
                                     .arg(run->config.value("k", 0))
                                     .arg(toQ(run->config.value("objective", std::string())))
                                     .arg(runStatusText(run->status))
                               : tr("#%1").arg(curve.runId));
            graph->setPen(QPen(seriesColor(index++), 1.6));
            // Smoothing: an exponential moving average, as on the Train tab. On a log axis the
            // values ≤ 0 (and rounding noise) cannot be drawn and are left out.
            const double weight = overlaySmoothing_->value() / 100.0;
            QVector<double> steps, values;
            double average = 0.0;
            bool first = true;
            for (size_t i = 0; i < curve.steps.size() && i < curve.values.size(); ++i) {
                const double value = curve.values[i];
                if (!std::isfinite(value))
                    continue;
                average = first ? value : weight * average + (1.0 - weight) * value;
                first = false;
                if (log && average <= 0.0)
                    continue;
                steps << double(curve.steps[i]);
                values << average;
            }
            graph->setData(steps, values, true);
        }
        overlay_->rescaleAxes();
        if (log) {
            const QCPRange range = overlay_->yAxis->range();
            overlay_->yAxis->setRange(range.lower / 1.5, range.upper * 1.5);
        }
    }
    overlay_->legend->setVisible(overlay_->graphCount() > 0);
    overlay_->replot();
}

bool RunsBrowser::loadOutcome(std::int64_t runId, TrainingOutcome* outcome, QString* error) const
{
    sp::RunStore* store = model_->store();
    if (!store) {
        *error = tr("The run database is not open.");
        return false;
    }
    try {
        const sp::RunRecord run = store->run(runId);
        outcome->runId = run.id;
        outcome->status = run.status;
        outcome->config = sp::trainConfigFromJson(run.config);
        outcome->message = toQ(run.error);
        outcome->contextTokens = run.summary.value("context_tokens", 0);
        outcome->prompt = sp::promptPiecesFromJson(run.promptPieces); // plain for runs from before formats
        outcome->evaluation = sp::fromStoredEvaluations(store->evaluations(runId));
        outcome->evaluation.heldout = sp::aggregatesFromSummary(run.summary, "heldout");
        outcome->evaluation.train = sp::aggregatesFromSummary(run.summary, "train");
        if (outcome->evaluation.heldout.empty())
            outcome->evaluation.heldout = sp::meanAggregates(outcome->evaluation, true);
        if (outcome->evaluation.train.empty())
            outcome->evaluation.train = sp::meanAggregates(outcome->evaluation, false);
        outcome->result.status = run.status;
        outcome->result.stepsCompleted = run.lastStep;
        outcome->result.initialTrainS = run.summary.value("initial_s", 0.0);
        outcome->result.finalTrainS = run.summary.value("final_s", 0.0);
        if (run.lastCheckpointStep)
            outcome->result.sigma = store->loadSigma(runId);
        if (outcome->contextTokens == 0 && run.contextId) {
            if (const auto tokens = store->contextTokenCount(*run.contextId, run.model.hash))
                outcome->contextTokens = *tokens;
        }
        return true;
    } catch (const std::exception& e) {
        *error = toQ(e.what());
        return false;
    }
}

void RunsBrowser::openInCompare()
{
    const std::vector<std::int64_t> ids = selectedRunIds();
    if (ids.size() != 1)
        return;
    TrainingOutcome outcome;
    QString error;
    if (!loadOutcome(ids.front(), &outcome, &error)) {
        showError(this, tr("Could not open the run"), error);
        return;
    }
    if (outcome.evaluation.queries.empty())
        showMessage(this, QMessageBox::Information, tr("No per-query results"),
                    tr("Run %1 has no stored evaluation (it was stopped or failed before σ was "
                       "evaluated). Its curve is shown here; train again to compare predictions.")
                        .arg(ids.front()));
    session_->showOutcome(outcome);
    emit outcomeOpened();
}

void RunsBrowser::loadConfigIntoEditor()
{
    const std::vector<std::int64_t> ids = selectedRunIds();
    const sp::RunRecord* run = ids.size() == 1 ? model_->runAt(model_->rowOfRun(ids.front())) : nullptr;
    if (!run)
        return;
    try {
        emit configLoadRequested(sp::trainConfigFromJson(run->config));
    } catch (const std::exception& e) {
        showError(this, tr("Could not load the settings"),
                  tr("Run %1's settings cannot be read: %2").arg(run->id).arg(toQ(e.what())));
    }
}

bool RunsBrowser::loadRunWork(std::int64_t runId, QString* context, std::vector<sp::Query>* queries,
                              sp::TrainConfig* config, QString* error) const
{
    sp::RunStore* store = model_->store();
    if (!store) {
        *error = tr("The run database is not open.");
        return false;
    }
    try {
        const sp::RunRecord run = store->run(runId);
        if (!run.contextId || !run.querySetId) {
            *error = tr("Run %1 was stored without its context or query set (a run from an older version, or "
                        "one started by a tool that does not record them); only its settings can be loaded.")
                         .arg(runId);
            return false;
        }
        *context = toQ(store->context(*run.contextId).text);
        queries->clear();
        for (const sp::StoredQuery& stored : store->querySet(*run.querySetId).queries)
            queries->push_back({stored.text, stored.target, stored.heldOut});
        *config = sp::trainConfigFromJson(run.config);
        return true;
    } catch (const std::exception& e) {
        *error = toQ(e.what());
        return false;
    }
}

void RunsBrowser::restoreWorkFromRun()
{
    const std::vector<std::int64_t> ids = selectedRunIds();
    if (ids.size() != 1)
        return;
    QString context, error;
    std::vector<sp::Query> queries;
    sp::TrainConfig config;
    if (!loadRunWork(ids.front(), &context, &queries, &config, &error)) {
        showError(this, tr("Could not restore the run's work"), error);
        return;
    }
    emit workRestoreRequested(ids.front(), context, queries, config);
}

void RunsBrowser::deleteSelected(bool ask)
{
    const std::vector<std::int64_t> ids = selectedRunIds();
    if (ids.empty())
        return;
    if (ask &&
        QMessageBox::question(this, tr("Delete runs?"),
                              tr("Delete %n run(s) with their curves, σ checkpoints and evaluations? This "
                                 "cannot be undone.",
                                 nullptr, int(ids.size()))) != QMessageBox::Yes)
        return;
    QStringList failures;
    for (std::int64_t id : ids) {
        QString error;
        if (!model_->deleteRun(id, &error))
            failures << tr("run %1: %2").arg(id).arg(error);
    }
    if (!failures.isEmpty())
        showError(this, tr("Some runs were not deleted"), failures.join(QLatin1Char('\n')));
    updateOverlay();
    updateButtons();
}

std::vector<RunsBrowser::DiffRow> RunsBrowser::diffRows(std::int64_t left, std::int64_t right) const
{
    sp::RunStore* store = model_->store();
    if (!store)
        throw sp::Error("the run database is not open");
    std::vector<DiffRow> rows;
    for (const sp::ConfigDifference& difference : store->diffRuns(left, right))
        rows.push_back({DiffRow::Setting, toQ(difference.key), jsonText(difference.left), jsonText(difference.right)});

    // The outcomes: each run's last value of every metric it recorded.
    const sp::RunRecord a = store->run(left);
    const sp::RunRecord b = store->run(right);
    std::set<std::string> metrics;
    for (const auto& [key, value] : a.lastMetrics.items())
        metrics.insert(key);
    for (const auto& [key, value] : b.lastMetrics.items())
        metrics.insert(key);
    auto metricText = [](const sp::RunRecord& run, const std::string& key) {
        if (!run.lastMetrics.contains(key) || !run.lastMetrics[key].is_number())
            return QStringLiteral("–");
        return QString::number(run.lastMetrics[key].get<double>(), 'g', 4);
    };
    for (const std::string& key : metrics)
        rows.push_back({DiffRow::Metric, tr("last %1").arg(toQ(key)), metricText(a, key), metricText(b, key)});
    rows.push_back({DiffRow::Metric, tr("steps"), QString::number(a.lastStep), QString::number(b.lastStep)});

    // Per query: σ's answer under each run, marked against the teacher (✓ same answer, ≈ same
    // first token, ✗ different), for the queries both runs evaluated, then the others.
    const sp::Evaluation evaluationA = sp::fromStoredEvaluations(store->evaluations(left));
    const sp::Evaluation evaluationB = sp::fromStoredEvaluations(store->evaluations(right));
    auto sigmaText = [](const sp::Evaluation& evaluation, const std::string& query) {
        for (const sp::QueryEvaluation& q : evaluation.queries) {
            if (q.query != query)
                continue;
            for (const sp::ConditionOutcome& outcome : q.outcomes)
                if (outcome.condition == sp::Condition::SoftPrompt)
                    return QStringLiteral("%1 %2 (s %3)")
                        .arg(outcome.exactMatch ? QStringLiteral("✓")
                                                : outcome.top1Agrees ? QStringLiteral("≈") : QStringLiteral("✗"),
                             toQ(outcome.prediction).replace(QLatin1Char('\n'), QStringLiteral(" ↵ ")),
                             divergenceText(outcome.s, 3));
        }
        return QStringLiteral("–");
    };
    std::vector<std::string> queries;
    std::set<std::string> seen;
    for (const sp::Evaluation* evaluation : {&evaluationA, &evaluationB})
        for (const sp::QueryEvaluation& q : evaluation->queries)
            if (seen.insert(q.query).second)
                queries.push_back(q.query);
    for (const std::string& query : queries)
        rows.push_back({DiffRow::Query, toQ(query).replace(QLatin1Char('\n'), QStringLiteral(" ↵ ")),
                        sigmaText(evaluationA, query), sigmaText(evaluationB, query)});
    return rows;
}

QString RunsBrowser::diffText(std::int64_t left, std::int64_t right) const
{
    QStringList lines;
    try {
        for (const DiffRow& row : diffRows(left, right))
            lines << QStringLiteral("%1: %2 → %3").arg(row.key, row.left, row.right);
    } catch (const std::exception& e) {
        return toQ(e.what());
    }
    return lines.join(QLatin1Char('\n'));
}

void RunsBrowser::showDiff()
{
    const std::vector<std::int64_t> ids = selectedRunIds();
    if (ids.size() != 2 || !model_->store())
        return;
    std::vector<sp::ConfigDifference> differences;
    try {
        differences = model_->store()->diffRuns(ids[0], ids[1]);
    } catch (const std::exception& e) {
        showError(this, tr("Could not compare the runs"), toQ(e.what()));
        return;
    }
    QDialog dialog(this);
    dialog.setWindowTitle(tr("Run %1 vs run %2").arg(ids[0]).arg(ids[1]));
    std::vector<DiffRow> rows;
    try {
        rows = diffRows(ids[0], ids[1]);
    } catch (const std::exception& e) {
        showError(this, tr("Could not compare the runs"), toQ(e.what()));
        return;
    }
    auto* table = new QTableWidget(int(rows.size()), 3, &dialog);
    table->setObjectName(QStringLiteral("diffTable"));
    table->setHorizontalHeaderLabels({tr("setting, outcome or query"), tr("run %1").arg(ids[0]),
                                      tr("run %1").arg(ids[1])});
    const QColor sectionTint[] = {QColor(0xee, 0xee, 0xff), QColor(0xee, 0xf8, 0xee), QColor(0xff, 0xff, 0xff)};
    for (int row = 0; row < int(rows.size()); ++row) {
        const DiffRow& diff = rows[size_t(row)];
        auto* key = new QTableWidgetItem(diff.key);
        key->setBackground(sectionTint[int(diff.kind)]);
        key->setToolTip(diff.key);
        table->setItem(row, 0, key);
        table->setItem(row, 1, new QTableWidgetItem(diff.left));
        table->setItem(row, 2, new QTableWidgetItem(diff.right));
        if (diff.left != diff.right)
            for (int column = 1; column < 3; ++column)
                table->item(row, column)->setFont([&] {
                    QFont bold = table->font();
                    bold.setBold(true);
                    return bold;
                }());
    }
    table->horizontalHeader()->setStretchLastSection(true);
    table->resizeColumnsToContents();
    auto* note =
        new QLabel(differences.empty() ? tr("The two runs have the same settings, model and context.")
                                       : tr("%n difference(s).", nullptr, int(differences.size())),
                   &dialog);
    auto* box = new QDialogButtonBox(QDialogButtonBox::Close, &dialog);
    connect(box, &QDialogButtonBox::rejected, &dialog, &QDialog::reject);
    auto* layout = new QVBoxLayout(&dialog);
    layout->addWidget(note);
    layout->addWidget(table, 1);
    layout->addWidget(box);
    dialog.resize(720, 420);
    dialog.exec();
}

bool RunsBrowser::peftWouldWriteContext(std::int64_t runId) const
{
    const sp::RunRecord* run = model_->runAt(model_->rowOfRun(runId));
    if (!run || !run->contextId || run->config.contains("peft"))
        return false;
    const std::string initText = run->config.value("init_text", run->config.value("initText", std::string()));
    return run->config.value("init", std::string()) == "text" && initText.empty();
}

bool RunsBrowser::exportPeftTo(std::int64_t runId, const QString& directory, const QString& initLabel,
                               QString* error) const
{
    sp::RunStore* store = model_->store();
    if (!store) {
        *error = tr("The run database is not open.");
        return false;
    }
    try {
        if (initLabel.isEmpty()) {
            store->exportPeft(runId, toStd(directory));
            return true;
        }
        // Written in a private scratch folder first, so the context never reaches the destination.
        QTemporaryDir scratch;
        if (!scratch.isValid())
            throw sp::Error(toStd(tr("no temporary folder can be created (%1); free disk space")
                                      .arg(scratch.errorString())));
        store->exportPeft(runId, toStd(scratch.path()));
        const QString configPath = QDir(scratch.path()).filePath(QStringLiteral("adapter_config.json"));
        QFile config(configPath);
        if (!config.open(QIODevice::ReadOnly))
            throw sp::Error(toStd(tr("%1 was not written").arg(configPath)));
        QJsonObject object = QJsonDocument::fromJson(config.readAll()).object();
        config.close();
        object.insert(QStringLiteral("prompt_tuning_init_text"), initLabel);
        QSaveFile patched(configPath);
        if (!patched.open(QIODevice::WriteOnly) ||
            patched.write(QJsonDocument(object).toJson(QJsonDocument::Indented)) < 0 || !patched.commit())
            throw sp::Error(toStd(tr("%1 cannot be rewritten").arg(configPath)));
        if (!QDir().mkpath(directory))
            throw sp::Error(toStd(tr("%1 cannot be created; choose a folder you can write to").arg(directory)));
        for (const QFileInfo& file : QDir(scratch.path()).entryInfoList(QDir::Files)) {
            const QString target = QDir(directory).filePath(file.fileName());
            QFile::remove(target);
            if (!QFile::copy(file.absoluteFilePath(), target))
                throw sp::Error(toStd(tr("%1 cannot be written; choose a folder you can write to").arg(target)));
        }
        return true;
    } catch (const std::exception& e) {
        *error = toQ(e.what());
        return false;
    }
}

void RunsBrowser::exportSigma(bool peft)
{
    const std::vector<std::int64_t> ids = selectedRunIds();
    if (ids.size() != 1 || !model_->store())
        return;
    // PEFT records the text σ was initialised from; with --init text and no text of its own that is
    // the whole (possibly confidential) context. Ask first, and offer a short label instead.
    QString initLabel;
    if (peft && peftWouldWriteContext(ids[0])) {
        QDialog dialog(this);
        dialog.setObjectName(QStringLiteral("peftInitDialog"));
        dialog.setWindowTitle(tr("Write the context into the adapter?"));
        auto* text = new QLabel(tr("σ of run %1 was initialised from the context. PEFT's adapter_config.json "
                                   "records that text as <i>prompt_tuning_init_text</i>, so everyone you share "
                                   "the adapter with could read the whole context.<p>The trained σ does not "
                                   "need it: a short label works as well.")
                                    .arg(ids[0]),
                                &dialog);
        text->setWordWrap(true);
        auto* useLabel = new QCheckBox(tr("Write this label instead:"), &dialog);
        useLabel->setChecked(true);
        auto* label = new QLineEdit(tr("soft prompt of run %1 (context withheld)").arg(ids[0]), &dialog);
        label->setObjectName(QStringLiteral("peftInitLabel"));
        connect(useLabel, &QCheckBox::toggled, label, &QWidget::setEnabled);
        auto* box = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, &dialog);
        connect(box, &QDialogButtonBox::accepted, &dialog, &QDialog::accept);
        connect(box, &QDialogButtonBox::rejected, &dialog, &QDialog::reject);
        auto* layout = new QVBoxLayout(&dialog);
        layout->addWidget(text);
        layout->addWidget(useLabel);
        layout->addWidget(label);
        layout->addWidget(box);
        if (dialog.exec() != QDialog::Accepted)
            return;
        initLabel = useLabel->isChecked() ? label->text().trimmed() : QString();
        if (useLabel->isChecked() && initLabel.isEmpty())
            initLabel = tr("soft prompt of run %1").arg(ids[0]);
    }
    QSettings settings;
    const QString start = settings.value(QStringLiteral("paths/export")).toString();
    QString path;
    if (peft) {
        path = QFileDialog::getExistingDirectory(this,
                                                 tr("Folder for the PEFT adapter (adapter_config.json, "
                                                    "adapter_model.safetensors)"),
                                                 start);
    } else {
        path = QFileDialog::getSaveFileName(
            this, tr("Export σ"), QDir(start).filePath(QStringLiteral("sigma-run%1.safetensors").arg(ids[0])),
            tr("safetensors (*.safetensors)"));
    }
    if (path.isEmpty())
        return;
    settings.setValue(QStringLiteral("paths/export"), peft ? path : QFileInfo(path).absolutePath());
    QString error;
    if (peft) {
        if (!exportPeftTo(ids[0], path, initLabel, &error))
            showError(this, tr("Could not export σ"), error);
        return;
    }
    try {
        model_->store()->exportSigma(ids[0], toStd(path));
    } catch (const std::exception& e) {
        showError(this, tr("Could not export σ"), toQ(e.what()));
    }
}

void RunsBrowser::exportCurveCsv()
{
    const std::vector<std::int64_t> ids = selectedRunIds();
    if (ids.size() != 1 || !model_->store())
        return;
    QSettings settings;
    const QString path =
        QFileDialog::getSaveFileName(this, tr("Export the curve"),
                                     QDir(settings.value(QStringLiteral("paths/export")).toString())
                                         .filePath(QStringLiteral("run%1.csv").arg(ids[0])),
                                     tr("CSV (*.csv)"));
    if (path.isEmpty())
        return;
    settings.setValue(QStringLiteral("paths/export"), QFileInfo(path).absolutePath());
    try {
        model_->store()->exportCurveCsv(ids[0], toStd(path));
    } catch (const std::exception& e) {
        showError(this, tr("Could not export the curve"), toQ(e.what()));
    }
}

} // namespace spui
