#include "CoverageMap.h"

#include "PlaygroundWorker.h"
#include "QtConvert.h"
#include "QueryTableModel.h"
#include "Session.h"
#include "softprompt/run_store.h"
#include "softprompt/train_config_json.h"

#include <QComboBox>
#include <QDoubleSpinBox>
#include <QEvent>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QMouseEvent>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSplitter>
#include <QTextBlock>
#include <QThread>
#include <QTreeWidget>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

namespace spui {
namespace {

enum UnitColumn { UnitTextColumn = 0, UnitMattersColumn, UnitKeptColumn, UnitInfluenceColumn };
enum QueryColumn { QueryTextColumn = 0, QueryInfluenceColumn, QuerySigmaColumn, QueryKeptColumn };

// How a unit is coloured: grey-free when it matters to no query; otherwise a hue from red (σ keeps
// it for none of its queries) through amber to green (for all of them), blue without σ, and an
// intensity that grows with the number of queries it matters for.
QColor unitColour(const sp::CoverageMap& map, const sp::CoverageUnit& unit, int mostQueries)
{
    if (unit.mattersFor.empty())
        return QColor();
    const double weight = 0.35 + 0.65 * double(unit.mattersFor.size()) / double(std::max(1, mostQueries));
    QColor base;
    if (!map.hasSigma) {
        base = QColor(70, 120, 220);
    } else {
        const double kept = double(unit.keptFor.size()) / double(unit.mattersFor.size());
        base = kept >= 0.999 ? QColor(60, 170, 80) : kept > 0.0 ? QColor(235, 160, 40) : QColor(215, 60, 60);
    }
    QColor colour = base;
    colour.setAlphaF(std::clamp(0.18 + 0.5 * weight, 0.0, 1.0));
    return colour;
}

QString shortText(const std::string& text, int length)
{
    QString shown = toQ(text).simplified();
    if (shown.size() > length)
        shown = shown.left(length - 1) + QStringLiteral("…");
    return shown;
}

// Byte offset in UTF-8 text → position in the QString made from it.
int qtPosition(const std::string& text, std::size_t byteOffset)
{
    return int(QString::fromUtf8(text.data(), qsizetype(std::min(byteOffset, text.size()))).size());
}

} // namespace

CoveragePanel::CoveragePanel(Session* session, QPlainTextEdit* editor, QWidget* parent)
    : QWidget(parent), session_(session), editor_(editor)
{
    setObjectName(QStringLiteral("coveragePanel"));
    thread_ = new QThread(this);
    thread_->setObjectName(QStringLiteral("coverageThread"));
    worker_ = new PlaygroundWorker;
    worker_->moveToThread(thread_);
    connect(thread_, &QThread::finished, worker_, &QObject::deleteLater);
    thread_->start();
    connect(worker_, &PlaygroundWorker::coverageProgress, this,
            [this](int requestId, double fraction) {
                if (requestId == lastRequest_)
                    progress_->setValue(int(fraction * 1000.0));
            },
            Qt::QueuedConnection);
    connect(worker_, &PlaygroundWorker::coverageReady, this, &CoveragePanel::onReady, Qt::QueuedConnection);
    connect(worker_, &PlaygroundWorker::coverageFailed, this,
            [this](int requestId, const QString& message) {
                if (requestId != lastRequest_)
                    return;
                computing_ = false;
                computeButton_->setText(tr("Map coverage"));
                progress_->setVisible(false);
                summary_->setText(tr("<span style='color:#a33'>%1</span>").arg(message.toHtmlEscaped()));
                emit mapFailed(message);
            },
            Qt::QueuedConnection);

    auto* title = new QLabel(tr("<b>What σ forgets</b>"), this);
    unitBox_ = new QComboBox(this);
    unitBox_->addItem(tr("sentences"), QStringLiteral("sentence"));
    unitBox_->addItem(tr("paragraphs"), QStringLiteral("paragraph"));
    unitBox_->setToolTip(tr("Leave out one sentence (or paragraph) at a time"));
    threshold_ = new QDoubleSpinBox(this);
    threshold_->setObjectName(QStringLiteral("coverageThreshold"));
    threshold_->setRange(0.01, 10.0);
    threshold_->setDecimals(2);
    threshold_->setSingleStep(0.05);
    threshold_->setValue(0.1);
    threshold_->setSuffix(tr(" nats"));
    threshold_->setToolTip(tr("A sentence matters to a query when leaving it out moves the teacher's "
                              "prediction by at least this KL (0.01 – 10 nats)"));
    computeButton_ = new QPushButton(tr("Map coverage"), this);
    computeButton_->setObjectName(QStringLiteral("coverageCompute"));
    computeButton_->setToolTip(tr("Leave each sentence out in turn (with the context's KV cache) and measure "
                                  "how the teacher's answers to the queries change, and whether the current "
                                  "run's σ keeps each influence"));
    connect(computeButton_, &QPushButton::clicked, this, [this] {
        if (computing_) {
            cancel();
            return;
        }
        QString why;
        if (!compute(&why))
            summary_->setText(why.toHtmlEscaped());
    });
    progress_ = new QProgressBar(this);
    progress_->setRange(0, 1000);
    progress_->setTextVisible(false);
    progress_->setMaximumHeight(8);
    progress_->setVisible(false);
    summary_ = new QLabel(this);
    summary_->setObjectName(QStringLiteral("coverageSummary"));
    summary_->setWordWrap(true);
    summary_->setText(tr("Map which sentences the teacher's answers depend on, and which of them σ keeps."));
    auto* legend = new QLabel(
        tr("<small><span style='background:#9fd7a8'>&nbsp;σ keeps it&nbsp;</span> "
           "<span style='background:#f4cf8f'>&nbsp;partly&nbsp;</span> "
           "<span style='background:#ec9a9a'>&nbsp;σ forgets it&nbsp;</span> "
           "<span style='background:#a9bfef'>&nbsp;matters (no σ)&nbsp;</span>; darker: more "
           "queries. Uncoloured text matters to no query.</small>"),
        this);
    legend->setWordWrap(true);

    units_ = new QTreeWidget(this);
    units_->setObjectName(QStringLiteral("coverageUnits"));
    units_->setRootIsDecorated(false);
    units_->setHeaderLabels({tr("sentence"), tr("matters to"), tr("σ keeps"), tr("max KL")});
    // The numbers take what they need; the sentence gets the rest of the narrow side panel.
    units_->header()->setStretchLastSection(false);
    for (int column = 0; column < units_->columnCount(); ++column)
        units_->header()->setSectionResizeMode(column, QHeaderView::ResizeToContents);
    units_->header()->setSectionResizeMode(UnitTextColumn, QHeaderView::Stretch);
    units_->header()->setStretchLastSection(false);
    units_->setSortingEnabled(true);
    connect(units_, &QTreeWidget::currentItemChanged, this, [this](QTreeWidgetItem* item) {
        if (item)
            selectUnit(item->data(UnitTextColumn, Qt::UserRole).toInt());
    });
    selection_ = new QLabel(this);
    selection_->setObjectName(QStringLiteral("coverageSelection"));
    selection_->setWordWrap(true);
    queries_ = new QTreeWidget(this);
    queries_->setObjectName(QStringLiteral("coverageQueries"));
    queries_->setRootIsDecorated(false);
    queries_->setHeaderLabels({tr("query"), tr("KL without it"), tr("KL of σ"), tr("σ keeps")});
    queries_->header()->setStretchLastSection(false);
    for (int column = 0; column < queries_->columnCount(); ++column)
        queries_->header()->setSectionResizeMode(column, QHeaderView::ResizeToContents);
    queries_->header()->setSectionResizeMode(QueryTextColumn, QHeaderView::Stretch);
    queries_->header()->setStretchLastSection(false);

    auto* options = new QHBoxLayout;
    options->addWidget(unitBox_);
    options->addWidget(threshold_);
    options->addWidget(computeButton_);
    auto* lists = new QSplitter(Qt::Vertical, this);
    lists->addWidget(units_);
    auto* lower = new QWidget(lists);
    auto* lowerLayout = new QVBoxLayout(lower);
    lowerLayout->setContentsMargins(0, 0, 0, 0);
    lowerLayout->addWidget(selection_);
    lowerLayout->addWidget(queries_, 1);
    lists->addWidget(lower);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 0, 0, 0);
    layout->addWidget(title);
    layout->addLayout(options);
    layout->addWidget(progress_);
    layout->addWidget(summary_);
    layout->addWidget(legend);
    layout->addWidget(lists, 1);

    editor_->viewport()->installEventFilter(this);
    connect(editor_, &QPlainTextEdit::textChanged, this, [this] {
        if (map_ && editor_->toPlainText() != mappedText_)
            clearMap(tr("The context changed: map it again."));
    });
}

CoveragePanel::~CoveragePanel()
{
    worker_->cancelCoverage();
    thread_->quit();
    thread_->wait();
}

bool CoveragePanel::compute(QString* whyNot)
{
    const auto refuse = [whyNot](const QString& reason) {
        if (whyNot)
            *whyNot = reason;
        return false;
    };
    if (computing_)
        return refuse(tr("The map is being computed."));
    if (!session_->hasModel() || session_->activity() == Session::Activity::LoadingModel)
        return refuse(tr("No model is loaded yet: load one in the model bar."));
    if (session_->context().trimmed().isEmpty())
        return refuse(tr("The context is empty: write or open one first."));
    const std::vector<sp::Query> queries = session_->queries()->nonEmptyQueries();
    if (queries.empty())
        return refuse(tr("There are no queries: the map measures how the answers to them change."));

    CoverageRequest request;
    request.id = ++lastRequest_;
    request.model = session_->model();
    request.context = toStd(session_->context());
    request.options.format = session_->promptFormat(); // a run's σ below brings its own
    request.queries = queries;
    request.config = configProvider_ ? configProvider_() : sp::TrainConfig{};
    if (session_->hasOutcome() && !session_->lastOutcome().result.sigma.empty()) {
        const TrainingOutcome& outcome = session_->lastOutcome();
        request.sigma = outcome.result.sigma;
        request.runId = outcome.runId;
        request.config = outcome.config; // σ is measured on the targets it was trained for
        request.options.format = outcome.prompt.format; // ... and in the layout it was trained in
    } else if (fallbackRun_ > 0) {
        try {
            const sp::RunStore store = sp::RunStore::open(toStd(session_->databasePath()));
            const sp::RunRecord run = store.run(fallbackRun_);
            request.config = sp::trainConfigFromJson(run.config);
            request.options.format = sp::promptFormatFromKey(run.promptFormat);
            request.sigma = store.loadSigma(fallbackRun_);
            request.runId = fallbackRun_;
        } catch (const std::exception& error) {
            return refuse(tr("Could not read σ of run %1: %2").arg(fallbackRun_).arg(errorText(error)));
        }
    }
    const std::string device = request.model.summary().device;
    request.config.device = device.substr(0, device.find(':'));
    request.config.k = request.sigma.empty() ? 1 : request.sigma.k;
    request.options.unit = sp::coverageUnitFromKey(toStd(unitBox_->currentData().toString()));
    request.options.influenceThreshold = threshold_->value();
    computing_ = true;
    mappedText_ = session_->context();
    computeButton_->setText(tr("Stop"));
    progress_->setValue(0);
    progress_->setVisible(true);
    summary_->setText(tr("Leaving out each %1 in turn on %n queries…", nullptr, int(queries.size()))
                          .arg(unitBox_->currentText().chopped(1)));
    QMetaObject::invokeMethod(worker_, [worker = worker_, request] { worker->computeCoverage(request); },
                              Qt::QueuedConnection);
    return true;
}

void CoveragePanel::cancel()
{
    if (computing_)
        worker_->cancelCoverage();
}

void CoveragePanel::onReady(int requestId, const sp::CoverageMap& map, qint64 runId)
{
    if (requestId != lastRequest_)
        return;
    computing_ = false;
    computeButton_->setText(tr("Map coverage"));
    progress_->setVisible(false);
    if (editor_->toPlainText() != mappedText_) {
        clearMap(tr("The context changed while the map was computed: map it again."));
        return;
    }
    map_ = map;
    sigmaRun_ = runId;
    const std::string context = toStd(mappedText_);
    spans_.clear();
    for (const sp::CoverageUnit& unit : map.units)
        spans_.emplace_back(qtPosition(context, unit.span.begin), qtPosition(context, unit.span.end));

    units_->setSortingEnabled(false);
    units_->clear();
    for (std::size_t u = 0; u < map.units.size(); ++u) {
        const sp::CoverageUnit& unit = map.units[u];
        auto* item = new QTreeWidgetItem;
        item->setText(UnitTextColumn, shortText(unit.text, 90));
        item->setToolTip(UnitTextColumn, toQ(unit.text) + QStringLiteral("\n") + toQ(map.describe(unit)));
        item->setData(UnitTextColumn, Qt::UserRole, int(u));
        item->setData(UnitMattersColumn, Qt::DisplayRole, int(unit.mattersFor.size()));
        if (map.hasSigma)
            item->setData(UnitKeptColumn, Qt::DisplayRole, int(unit.keptFor.size()));
        item->setData(UnitInfluenceColumn, Qt::DisplayRole, std::round(unit.maxInfluence * 1000.0) / 1000.0);
        units_->addTopLevelItem(item);
    }
    units_->setSortingEnabled(true);
    units_->sortItems(UnitMattersColumn, Qt::DescendingOrder);
    summary_->setText(summaryText());
    applyColours();
    selectUnit(-1);
    emit mapReady();
}

QString CoveragePanel::summaryText() const
{
    if (!map_)
        return QString();
    int matter = 0, fully = 0, none = 0;
    for (const sp::CoverageUnit& unit : map_->units) {
        if (unit.mattersFor.empty())
            continue;
        ++matter;
        fully += unit.keptFor.size() == unit.mattersFor.size() ? 1 : 0;
        none += unit.keptFor.empty() ? 1 : 0;
    }
    QString text = tr("%1 of %2 %3 matter to at least one of %4 queries")
                       .arg(matter)
                       .arg(map_->units.size())
                       .arg(map_->options.unit == sp::CoverageUnitKind::Paragraph ? tr("paragraphs") : tr("sentences"))
                       .arg(map_->queries.size());
    if (map_->hasSigma)
        text += tr("; σ of run %1 keeps %2 of them fully and forgets %3.").arg(sigmaRun_).arg(fully).arg(none);
    else
        text += tr(" (no trained σ yet: train or open a run to see what σ keeps).");
    return text + tr(" <small>%1 s</small>").arg(map_->seconds, 0, 'f', 1);
}

void CoveragePanel::applyColours()
{
    QList<QTextEdit::ExtraSelection> selections;
    if (map_) {
        int most = 1;
        for (const sp::CoverageUnit& unit : map_->units)
            most = std::max(most, int(unit.mattersFor.size()));
        for (std::size_t u = 0; u < map_->units.size(); ++u) {
            const QColor colour = unitColour(*map_, map_->units[u], most);
            if (!colour.isValid() && int(u) != selectedUnit_)
                continue;
            QTextEdit::ExtraSelection selection;
            selection.cursor = QTextCursor(editor_->document());
            selection.cursor.setPosition(spans_[u].first);
            selection.cursor.setPosition(spans_[u].second, QTextCursor::KeepAnchor);
            if (colour.isValid())
                selection.format.setBackground(colour);
            if (int(u) == selectedUnit_) {
                selection.format.setFontUnderline(true);
                selection.format.setUnderlineColor(QColor(30, 30, 30));
            }
            selection.format.setToolTip(toQ(map_->describe(map_->units[u])));
            selections << selection;
        }
    }
    editor_->setExtraSelections(selections);
}

void CoveragePanel::clearMap(const QString& reason)
{
    map_.reset();
    spans_.clear();
    selectedUnit_ = -1;
    units_->clear();
    queries_->clear();
    selection_->clear();
    summary_->setText(reason);
    editor_->setExtraSelections({});
}

int CoveragePanel::unitAtEditorPosition(int position) const
{
    for (std::size_t u = 0; u < spans_.size(); ++u)
        if (position >= spans_[u].first && position < spans_[u].second)
            return int(u);
    return -1;
}

void CoveragePanel::selectUnit(int unit)
{
    selectedUnit_ = map_ && unit >= 0 && unit < int(map_->units.size()) ? unit : -1;
    queries_->clear();
    if (selectedUnit_ < 0) {
        selection_->setText(map_ ? tr("Click a sentence (here or in the text) to list the queries it matters for.")
                                 : QString());
        applyColours();
        return;
    }
    const sp::CoverageUnit& entry = map_->units[std::size_t(selectedUnit_)];
    selection_->setText(tr("<b>%1</b><br>“%2”")
                            .arg(toQ(map_->describe(entry)).toHtmlEscaped(), shortText(entry.text, 160).toHtmlEscaped()));
    const auto kept = [&](int q) { return std::find(entry.keptFor.begin(), entry.keptFor.end(), q) != entry.keptFor.end(); };
    for (int q : entry.mattersFor) {
        auto* item = new QTreeWidgetItem;
        item->setText(QueryTextColumn, shortText(map_->queries[std::size_t(q)], 80));
        item->setToolTip(QueryTextColumn, toQ(map_->queries[std::size_t(q)]));
        item->setText(QueryInfluenceColumn, QString::number(entry.influence[std::size_t(q)], 'g', 3));
        if (map_->hasSigma) {
            item->setText(QuerySigmaColumn, divergenceText(map_->sigmaKl[std::size_t(q)], 3));
            item->setText(QueryKeptColumn, kept(q) ? tr("yes") : tr("no"));
            item->setForeground(QueryKeptColumn, kept(q) ? QColor(30, 130, 50) : QColor(190, 40, 40));
        }
        queries_->addTopLevelItem(item);
    }
    for (int i = 0; i < units_->topLevelItemCount(); ++i) {
        QTreeWidgetItem* item = units_->topLevelItem(i);
        if (item->data(UnitTextColumn, Qt::UserRole).toInt() == selectedUnit_ && units_->currentItem() != item) {
            const QSignalBlocker block(units_);
            units_->setCurrentItem(item);
        }
    }
    applyColours();
}

bool CoveragePanel::eventFilter(QObject* watched, QEvent* event)
{
    if (watched == editor_->viewport() && event->type() == QEvent::MouseButtonRelease && map_) {
        const auto* mouse = static_cast<QMouseEvent*>(event);
        if (mouse->button() == Qt::LeftButton && !editor_->textCursor().hasSelection()) {
            const int unit = unitAtEditorPosition(editor_->cursorForPosition(mouse->position().toPoint()).position());
            if (unit >= 0)
                selectUnit(unit);
        }
    }
    return QWidget::eventFilter(watched, event);
}

QString coverageReportHtml(const sp::CoverageMap& map, qint64 sigmaRun)
{
    int matter = 0, fully = 0;
    std::vector<const sp::CoverageUnit*> ranked;
    for (const sp::CoverageUnit& unit : map.units) {
        if (unit.mattersFor.empty())
            continue;
        ++matter;
        fully += unit.keptFor.size() == unit.mattersFor.size() ? 1 : 0;
        ranked.push_back(&unit);
    }
    std::stable_sort(ranked.begin(), ranked.end(), [](const auto* a, const auto* b) {
        return a->mattersFor.size() != b->mattersFor.size() ? a->mattersFor.size() > b->mattersFor.size()
                                                            : a->maxInfluence > b->maxInfluence;
    });
    QString html = QObject::tr("<h2>What σ keeps of the context</h2><p>Each %1 of the context was left out in "
                               "turn and the teacher's answers to the %2 queries compared with and without it "
                               "(KL ≥ %3 nats: it matters). %4 of %5 %6 matter to at least one query")
                       .arg(toQ(sp::coverageUnitKey(map.options.unit)))
                       .arg(map.queries.size())
                       .arg(map.options.influenceThreshold)
                       .arg(matter)
                       .arg(map.units.size())
                       .arg(map.options.unit == sp::CoverageUnitKind::Paragraph ? QObject::tr("paragraphs")
                                                                               : QObject::tr("sentences"));
    if (map.hasSigma)
        html += QObject::tr("; σ of run %1 keeps %2 of them for every query they matter to (σ's KL from the "
                            "teacher at most %3 × the sentence's influence).")
                    .arg(sigmaRun)
                    .arg(fully)
                    .arg(map.options.keepFraction);
    else
        html += QStringLiteral(".");
    html += QStringLiteral("</p><table><tr><th>%1</th><th>%2</th><th>%3</th><th>%4</th></tr>")
                .arg(QObject::tr("sentence"), QObject::tr("matters to"), QObject::tr("σ keeps it for"),
                     QObject::tr("largest KL without it"));
    for (const sp::CoverageUnit* unit : ranked) {
        const char* css = !map.hasSigma ? "" : unit->keptFor.size() == unit->mattersFor.size() ? "good"
                                           : unit->keptFor.empty()                            ? "bad"
                                                                                              : "close";
        html += QStringLiteral("<tr class='%1'><td>%2</td><td>%3</td><td>%4</td><td>%5</td></tr>")
                    .arg(QLatin1String(css), shortText(unit->text, 120).toHtmlEscaped())
                    .arg(unit->mattersFor.size())
                    .arg(map.hasSigma ? QString::number(unit->keptFor.size()) : QStringLiteral("–"))
                    .arg(unit->maxInfluence, 0, 'g', 3);
    }
    html += QStringLiteral("</table>");
    return html;
}

} // namespace spui
