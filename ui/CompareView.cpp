#include "CompareView.h"

#include "CompareModel.h"
#include "PendingQueries.h"
#include "PlotExport.h"
#include "QtConvert.h"
#include "Session.h"
#include "softprompt/run_recording.h"

#include <QDialog>
#include <QDialogButtonBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QTextBrowser>
#include <QSortFilterProxyModel>
#include <QSplitter>
#include <QTableView>
#include <QVBoxLayout>
#include <qcustomplot.h>

#include <algorithm>

namespace spui {
namespace {

// Token text as a tick label: leading spaces and newlines made visible.
QString tokenLabel(const std::string& text)
{
    QString label = toQ(text);
    label.replace(QLatin1Char(' '), QStringLiteral("␣"));
    label.replace(QLatin1Char('\n'), QStringLiteral("↵"));
    label.replace(QLatin1Char('\t'), QStringLiteral("→"));
    return label.isEmpty() ? QStringLiteral("∅") : label;
}

// Percentages with fixed decimals; divergences with 3 significant digits (they span 1e-5 .. 10).
QString intervalText(const sp::Interval& interval, double scale, int decimals)
{
    auto number = [&](double value) {
        return scale == 1.0 ? divergenceText(value, decimals) : QString::number(value * scale, 'f', decimals);
    };
    return QStringLiteral("%1 <small>[%2, %3]</small>")
        .arg(number(interval.mean), number(interval.low), number(interval.high));
}

} // namespace

CompareView::CompareView(Session* session, QWidget* parent) : QWidget(parent), session_(session)
{
    aggregates_ = new QLabel(this);
    aggregates_->setObjectName(QStringLiteral("compareAggregates"));
    aggregates_->setTextFormat(Qt::RichText);
    aggregates_->setWordWrap(true);

    model_ = new CompareModel(this);
    proxy_ = new QSortFilterProxyModel(this);
    proxy_->setSourceModel(model_);
    proxy_->setSortRole(CompareModel::SortRole);
    table_ = new QTableView(this);
    table_->setObjectName(QStringLiteral("compareTable"));
    table_->setModel(proxy_);
    table_->setSortingEnabled(true);
    table_->horizontalHeader()->setSortIndicatorShown(false); // the model's order (worst first) until clicked
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->setSelectionMode(QAbstractItemView::SingleSelection);
    table_->setWordWrap(false);
    table_->horizontalHeader()->setSectionResizeMode(QHeaderView::Interactive);
    table_->horizontalHeader()->setStretchLastSection(false);
    table_->verticalHeader()->setDefaultSectionSize(22);
    connect(table_->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
            [this](const QModelIndex& current) {
                showQuery(current.isValid() ? proxy_->mapToSource(current).row() : -1);
            });

    selected_ = new QLabel(this);
    selected_->setObjectName(QStringLiteral("compareSelection"));
    selected_->setWordWrap(true);
    selected_->setTextInteractionFlags(Qt::TextSelectableByMouse);

    bars_ = new QCustomPlot(this);
    bars_->setObjectName(QStringLiteral("topKBars"));
    bars_->setMinimumHeight(200);
    // Short enough for the axis at the plot's smallest height (the long form was cut off).
    bars_->yAxis->setLabel(tr("P(next token)"));
    bars_->setToolTip(tr("Probability of each candidate next token under each condition"));
    bars_->yAxis->setRange(0, 1.05);
    bars_->legend->setVisible(true);
    bars_->legend->setFont(QFont(font().family(), 8));
    // The legend gets a column of its own right of the bars: inside, it covered the last tokens'.
    bars_->axisRect()->insetLayout()->take(bars_->legend);
    bars_->plotLayout()->addElement(0, 1, bars_->legend);
    bars_->plotLayout()->setColumnStretchFactor(1, 0.001);
    bars_->legend->setBorderPen(Qt::NoPen);
    bars_->xAxis->setTickLabelRotation(40);

    strip_ = new QCustomPlot(this);
    strip_->setObjectName(QStringLiteral("divergenceStrip"));
    strip_->setMinimumHeight(110);
    strip_->setMaximumHeight(150);
    strip_->yAxis->setVisible(false);
    strip_->xAxis->setLabel(tr("position in the full-context continuation ŷ"));
    stripNote_ = new QLabel(this);
    stripNote_->setObjectName(QStringLiteral("stripNote"));
    stripNote_->setWordWrap(true);

    promptsButton_ = new QPushButton(tr("Rendered &prompts…"), this);
    promptsButton_->setObjectName(QStringLiteral("renderedPromptsButton"));
    promptsButton_->setToolTip(tr("What each condition puts before the model's answer to the selected query, "
                                  "markers included"));
    promptsButton_->setEnabled(false);
    connect(promptsButton_, &QPushButton::clicked, this, [this] {
        QDialog dialog(this);
        dialog.setWindowTitle(tr("Rendered prompts"));
        auto* browser = new QTextBrowser(&dialog);
        browser->setObjectName(QStringLiteral("renderedPrompts"));
        browser->setHtml(renderedPromptsHtml());
        auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close, &dialog);
        connect(buttons, &QDialogButtonBox::rejected, &dialog, &QDialog::reject);
        auto* dialogLayout = new QVBoxLayout(&dialog);
        dialogLayout->addWidget(browser);
        dialogLayout->addWidget(buttons);
        dialog.resize(760, 560);
        dialog.exec();
    });

    auto* detail = new QWidget(this);
    auto* detailLayout = new QVBoxLayout(detail);
    detailLayout->setContentsMargins(0, 0, 0, 0);
    auto* selectedRow = new QHBoxLayout;
    selectedRow->addWidget(selected_, 1);
    selectedRow->addWidget(promptsButton_, 0, Qt::AlignTop);
    detailLayout->addLayout(selectedRow);
    detailLayout->addWidget(bars_, 3);
    detailLayout->addWidget(stripNote_);
    detailLayout->addWidget(strip_, 1);

    auto* splitter = new QSplitter(Qt::Vertical, this);
    splitter->addWidget(table_);
    splitter->addWidget(detail);
    splitter->setStretchFactor(0, 1);
    splitter->setStretchFactor(1, 1);
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(aggregates_);
    layout->addWidget(new PendingQueriesBar(session_, this)); // queries added after training
    layout->addWidget(splitter, 1);

    connect(session_, &Session::outcomeChanged, this, &CompareView::refresh);
    refresh();
}

QString CompareView::aggregatesHtml() const
{
    return aggregates_->text();
}

void CompareView::refresh()
{
    if (!session_->hasOutcome() || session_->lastOutcome().evaluation.queries.empty()) {
        model_->clear();
        aggregates_->setText(
            tr("Train σ (Train tab) or open a run (Runs tab) to compare its predictions with "
               "the full context, no context and truncated contexts, query by query."));
        showQuery(-1);
        return;
    }
    const TrainingOutcome& outcome = session_->lastOutcome();
    const bool higherIsBetter = sp::objectiveInfo(outcome.config.objective).higherIsBetter;
    model_->setEvaluation(outcome.evaluation, higherIsBetter);
    proxy_->sort(-1); // back to the model's worst-first order
    table_->horizontalHeader()->setSortIndicatorShown(false);

    const auto& aggregates =
        outcome.evaluation.heldout.empty() ? outcome.evaluation.train : outcome.evaluation.heldout;
    QString html =
        tr("<b>%1 queries</b>: ").arg(outcome.evaluation.heldout.empty() ? tr("Training") : tr("Held-out")) +
        tr("run %1 · k = %2 · s = %3 (%4). Means with 95% bootstrap intervals.")
            .arg(outcome.runId)
            .arg(outcome.config.k)
            .arg(toQ(sp::objectiveInfo(outcome.config.objective).label).toHtmlEscaped())
            .arg(higherIsBetter ? tr("higher is better") : tr("lower is better"));
    html += QStringLiteral(
        "<table cellspacing=0 cellpadding=3 border=1 style='border-collapse: collapse;'>"
        "<tr><th>condition</th><th>s</th><th>top-1 agreement %</th><th>exact match %</th></tr>");
    for (const sp::ConditionAggregate& aggregate : aggregates) {
        html +=
            QStringLiteral("<tr><td><font color='%1'>■</font> %2</td><td>%3</td><td>%4</td><td>%5</td></tr>")
                .arg(conditionColor(aggregate.condition).name(), conditionShortLabel(aggregate.condition),
                     intervalText(aggregate.s, 1.0, 3), intervalText(aggregate.top1Agreement, 100.0, 0),
                     intervalText(aggregate.exactMatch, 100.0, 0));
    }
    html += QStringLiteral("</table>");
    if (aggregates.empty())
        html = tr("Run %1: per-query results (no aggregates stored).").arg(outcome.runId);
    aggregates_->setText(html);
    table_->resizeColumnsToContents();
    for (int column = 0; column < model_->columnCount(); ++column)
        table_->setColumnWidth(column, std::min(table_->columnWidth(column), 240));
    table_->horizontalHeader()->setSectionResizeMode(CompareModel::QueryColumn, QHeaderView::Stretch);
    selectRow(0);
}

void CompareView::selectRow(int row)
{
    if (row < 0 || row >= proxy_->rowCount()) {
        showQuery(-1);
        return;
    }
    table_->setCurrentIndex(proxy_->index(row, 0));
    table_->selectRow(row);
}

QString CompareView::renderedPromptsHtml() const
{
    const sp::QueryEvaluation* query = model_->queryAt(selectedRow_);
    if (!query || !session_->hasOutcome())
        return {};
    const TrainingOutcome& outcome = session_->lastOutcome();
    const std::string context = toStd(session_->context());
    QString html = tr("<p>Format: <b>%1</b>%2</p>")
                       .arg(toQ(sp::promptFormatKey(outcome.prompt.format)),
                            outcome.prompt.note.empty() ? QString()
                                                        : QStringLiteral(" · ") + toQ(outcome.prompt.note).toHtmlEscaped());
    for (const sp::ConditionOutcome& condition : query->outcomes) {
        const std::string text = sp::conditionPromptText(outcome.prompt, condition.condition, context, query->query,
                                                         outcome.config.k, session_->tokenizer());
        html += QStringLiteral("<h4>%1</h4><pre style=\"background:#f4f4f4; white-space:pre-wrap\">%2</pre>")
                    .arg(toQ(sp::conditionLabel(condition.condition)).toHtmlEscaped(), toQ(text).toHtmlEscaped());
    }
    return html;
}

void CompareView::showQuery(int sourceRow)
{
    selectedRow_ = sourceRow;
    const sp::QueryEvaluation* query = model_->queryAt(sourceRow);
    promptsButton_->setEnabled(query != nullptr);
    if (!query) {
        selected_->setText(tr("Select a query to see its next-token probabilities under each condition."));
    } else {
        const sp::ConditionOutcome* full = findOutcome(*query, sp::Condition::FullContext);
        selected_->setText(
            tr("<b>%1</b><br>ŷ with the full context: <tt>%2</tt>%3")
                .arg(toQ(query->query).toHtmlEscaped().replace(QLatin1Char('\n'), QStringLiteral(" ↵ ")),
                     full ? (full->prediction.empty() ? tr("∅ (ends at once)")
                                                      : toQ(full->prediction).toHtmlEscaped())
                          : tr("–"),
                     query->target.empty()
                         ? QString()
                         : tr(" · target: <tt>%1</tt>").arg(toQ(query->target).toHtmlEscaped())));
    }
    showBars(sourceRow);
    showStrip(sourceRow);
}

void CompareView::showBars(int sourceRow)
{
    bars_->clearPlottables();
    bars_->xAxis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
    const sp::QueryEvaluation* query = model_->queryAt(sourceRow);
    if (!query) {
        bars_->replot();
        return;
    }
    // The tokens shown: the teacher's most likely ones, then each other condition's favourite.
    constexpr size_t kMaxTokens = 10;
    std::vector<std::int32_t> ids;
    std::vector<std::string> texts;
    auto addToken = [&](const sp::TokenProbability& token) {
        if (ids.size() >= kMaxTokens || std::find(ids.begin(), ids.end(), token.id) != ids.end())
            return;
        ids.push_back(token.id);
        texts.push_back(token.text);
    };
    if (const sp::ConditionOutcome* full = findOutcome(*query, sp::Condition::FullContext))
        for (size_t i = 0; i < full->topK.size() && i < 6; ++i)
            addToken(full->topK[i]);
    for (const sp::ConditionOutcome& outcome : query->outcomes)
        if (!outcome.topK.empty())
            addToken(outcome.topK.front());

    QSharedPointer<QCPAxisTickerText> ticker(new QCPAxisTickerText);
    for (size_t i = 0; i < ids.size(); ++i)
        ticker->addTick(double(i + 1), tokenLabel(texts[i]));
    bars_->xAxis->setTicker(ticker);
    bars_->xAxis->setRange(0.3, double(ids.size()) + 0.7);
    double tallest = 0.0;

    auto* group = new QCPBarsGroup(bars_);
    group->setSpacingType(QCPBarsGroup::stAbsolute);
    group->setSpacing(1);
    int shown = 0;
    for (sp::Condition condition :
         {sp::Condition::FullContext, sp::Condition::SoftPrompt, sp::Condition::NoContext,
          sp::Condition::FirstK, sp::Condition::LastK, sp::Condition::PrunedHardPrompt}) {
        const sp::ConditionOutcome* outcome = findOutcome(*query, condition);
        if (!outcome)
            continue;
        ++shown;
        auto* bars = new QCPBars(bars_->xAxis, bars_->yAxis);
        bars->setName(conditionShortLabel(condition));
        const QColor color = conditionColor(condition);
        bars->setPen(QPen(color.darker(130)));
        bars->setBrush(color);
        bars->setWidthType(QCPBars::wtPlotCoords);
        bars->setBarsGroup(group);
        QVector<double> keys, values;
        for (size_t i = 0; i < ids.size(); ++i) {
            double probability = 0.0; // outside this condition's top-k: too small to list
            for (const sp::TokenProbability& token : outcome->topK)
                if (token.id == ids[i])
                    probability = token.probability;
            keys << double(i + 1);
            values << probability;
            tallest = std::max(tallest, probability);
        }
        bars->setData(keys, values, true);
    }
    // Up to the tallest bar, so that a flat distribution is still readable (the axis says so).
    bars_->yAxis->setRange(0, std::clamp(tallest * 1.15, 0.02, 1.05));
    const double width = shown > 0 ? 0.8 / shown : 0.8;
    for (int i = 0; i < bars_->plottableCount(); ++i)
        static_cast<QCPBars*>(bars_->plottable(i))->setWidth(width);
    bars_->replot();
}

void CompareView::showStrip(int sourceRow)
{
    strip_->clearPlottables();
    strip_->clearItems();
    for (int i = strip_->plotLayout()->elementCount() - 1; i >= 0; --i)
        if (auto* scale = qobject_cast<QCPColorScale*>(strip_->plotLayout()->elementAt(i)))
            strip_->plotLayout()->remove(scale);
    strip_->plotLayout()->simplify();
    const sp::QueryEvaluation* query = model_->queryAt(sourceRow);
    const sp::ConditionOutcome* sigma = query ? findOutcome(*query, sp::Condition::SoftPrompt) : nullptr;
    const sp::ConditionOutcome* full = query ? findOutcome(*query, sp::Condition::FullContext) : nullptr;
    if (!sigma || sigma->perTokenDivergence.empty()) {
        stripNote_->setText(
            tr("The per-token divergence strip appears for runs with a continuation target."));
        strip_->setVisible(false);
        return;
    }
    strip_->setVisible(true);
    const std::vector<double>& divergence = sigma->perTokenDivergence;
    const int n = int(divergence.size());
    stripNote_->setText(
        tr("KL(P_c ‖ P_σ) at each position of ŷ under teacher forcing: dark red cells are where σ "
           "loses the context; pale cells are where it matches."));
    auto* map = new QCPColorMap(strip_->xAxis, strip_->yAxis);
    map->setObjectName(QStringLiteral("divergenceMap"));
    map->setInterpolate(false); // one flat cell per position, not a blend between neighbours
    // QCPColorMap spans cell centres: a dimension of one cell has no extent and draws nothing. Two
    // rows (and two columns for a single position) give every cell its full width and height.
    const int columns = std::max(n, 2);
    map->data()->setSize(columns, 2);
    map->data()->setRange(n >= 2 ? QCPRange(1, n) : QCPRange(0.75, 1.25), QCPRange(-0.25, 0.25));
    double top = 1e-9;
    for (int column = 0; column < columns; ++column) {
        const double value = divergence[size_t(std::min(column, n - 1))];
        map->data()->setCell(column, 0, value);
        map->data()->setCell(column, 1, value);
        top = std::max(top, value);
    }
    auto* scale = new QCPColorScale(strip_);
    strip_->plotLayout()->addElement(0, 1, scale);
    scale->setLabel(tr("KL"));
    map->setColorScale(scale);
    // Low KL pale, high KL dark red: the caption's "dark is bad" and the scale agree.
    QCPColorGradient gradient;
    gradient.setColorStopAt(0.0, QColor(0xff, 0xf7, 0xec));
    gradient.setColorStopAt(0.5, QColor(0xfc, 0x8d, 0x59));
    gradient.setColorStopAt(1.0, QColor(0x7f, 0x00, 0x00));
    map->setGradient(gradient);
    map->setDataRange(QCPRange(0, top));
    QSharedPointer<QCPAxisTickerText> ticker(new QCPAxisTickerText);
    std::vector<std::string> pieces;
    if (full && session_->tokenizer() && !full->predictionIds.empty()) {
        try {
            pieces = session_->tokenizer()->decodePieces(full->predictionIds);
        } catch (const std::exception&) {
            pieces.clear();
        }
    }
    for (int i = 0; i < n; ++i)
        ticker->addTick(i + 1,
                        size_t(i) < pieces.size() ? tokenLabel(pieces[size_t(i)]) : QString::number(i + 1));
    strip_->xAxis->setTicker(ticker);
    strip_->xAxis->setRange(0.5, n + 0.5);
    strip_->yAxis->setRange(-0.5, 0.5);
    strip_->replot();
}

} // namespace spui
