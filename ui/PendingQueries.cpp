#include "PendingQueries.h"

#include "PlaygroundWorker.h"
#include "QtConvert.h"
#include "QueryTableModel.h"
#include "Session.h"
#include "softprompt/run_store.h"

#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QThread>

#include <set>

namespace spui {

PendingQueriesBar::PendingQueriesBar(Session* session, QWidget* parent) : QFrame(parent), session_(session)
{
    setObjectName(QStringLiteral("pendingQueriesBar"));
    setFrameShape(QFrame::StyledPanel);
    setStyleSheet(QStringLiteral("#pendingQueriesBar { background: #fff6d6; }"));
    thread_ = new QThread(this);
    thread_->setObjectName(QStringLiteral("pendingQueriesThread"));
    worker_ = new PlaygroundWorker;
    worker_->moveToThread(thread_);
    connect(thread_, &QThread::finished, worker_, &QObject::deleteLater);
    thread_->start();

    text_ = new QLabel(this);
    text_->setWordWrap(true);
    button_ = new QPushButton(tr("Evaluate them with this σ"), this);
    button_->setObjectName(QStringLiteral("evaluatePendingQueries"));
    button_->setToolTip(tr("Evaluate the new queries under every condition with the run's σ; the results are "
                           "added to the run in the database"));
    connect(button_, &QPushButton::clicked, this, [this] {
        QString why;
        if (!evaluate(&why))
            text_->setText(why);
    });
    auto* layout = new QHBoxLayout(this);
    layout->setContentsMargins(8, 4, 8, 4);
    layout->addWidget(text_, 1);
    layout->addWidget(button_);

    connect(worker_, &PlaygroundWorker::queriesEvaluated, this,
            [this](qint64 runId, const sp::Evaluation& evaluation, const QString& warning) {
                evaluating_ = false;
                if (session_->hasOutcome() && session_->lastOutcome().runId == runId) {
                    TrainingOutcome outcome = session_->lastOutcome();
                    for (const sp::QueryEvaluation& query : evaluation.queries)
                        outcome.evaluation.queries.push_back(query);
                    if (!warning.isEmpty())
                        outcome.storeWarning = warning;
                    session_->showOutcome(outcome);
                }
                updateBar();
                if (!warning.isEmpty())
                    text_->setText(tr("Evaluated, but not saved with the run: %1").arg(warning));
                emit evaluated(int(evaluation.queries.size()));
            },
            Qt::QueuedConnection);
    connect(worker_, &PlaygroundWorker::queryEvaluationFailed, this,
            [this](qint64, const QString& message) {
                evaluating_ = false;
                updateBar();
                text_->setText(tr("Could not evaluate the new queries: %1").arg(message));
                emit evaluationFailed(message);
            },
            Qt::QueuedConnection);
    connect(session_, &Session::outcomeChanged, this, &PendingQueriesBar::updateBar);
    connect(session_->queries(), &QueryTableModel::queriesChanged, this, &PendingQueriesBar::updateBar);
    updateBar();
}

PendingQueriesBar::~PendingQueriesBar()
{
    thread_->quit();
    thread_->wait();
}

std::vector<sp::Query> PendingQueriesBar::pendingQueries() const
{
    if (!session_->hasOutcome() || session_->lastOutcome().evaluation.queries.empty())
        return {};
    std::set<std::string> known;
    for (const sp::QueryEvaluation& query : session_->lastOutcome().evaluation.queries)
        known.insert(query.query);
    std::vector<sp::Query> pending;
    for (const sp::Query& query : session_->queries()->nonEmptyQueries())
        if (known.insert(query.text).second)
            pending.push_back(query);
    return pending;
}

void PendingQueriesBar::updateBar()
{
    const std::vector<sp::Query> pending = pendingQueries();
    const bool canEvaluate = session_->hasOutcome() && !session_->lastOutcome().result.sigma.empty();
    setVisible(!pending.empty() && canEvaluate);
    if (pending.empty() || !canEvaluate)
        return;
    const int count = int(pending.size());
    text_->setText(
        evaluating_
            ? tr("Evaluating %n new query(s)…", nullptr, count)
            : tr("%n query(s) added to the set after run %1 was trained: not in this table.", nullptr, count)
                  .arg(session_->lastOutcome().runId));
    button_->setEnabled(!evaluating_);
}

bool PendingQueriesBar::evaluate(QString* whyNot)
{
    const auto refuse = [whyNot](const QString& reason) {
        if (whyNot)
            *whyNot = reason;
        return false;
    };
    if (evaluating_)
        return refuse(tr("The new queries are being evaluated."));
    if (!session_->hasModel())
        return refuse(tr("No model is loaded: load the run's model first."));
    if (!session_->hasOutcome() || session_->lastOutcome().result.sigma.empty())
        return refuse(tr("There is no σ to evaluate with: train σ or open a run."));
    const std::vector<sp::Query> pending = pendingQueries();
    if (pending.empty())
        return refuse(tr("Every query is already evaluated."));
    const TrainingOutcome& outcome = session_->lastOutcome();
    QueryEvaluationRequest request;
    request.model = session_->model();
    request.databasePath = session_->databasePath();
    request.runId = outcome.runId;
    request.queries = pending;
    request.config = outcome.config;
    request.sigma = outcome.result.sigma;
    request.context = toStd(session_->context());
    // σ is compared with the teacher on the context it was trained for, when the database has it.
    if (outcome.runId > 0 && QFileInfo::exists(request.databasePath)) {
        try {
            const sp::RunStore store = sp::RunStore::open(toStd(request.databasePath));
            const sp::RunRecord run = store.run(outcome.runId);
            if (!run.model.hash.empty() && run.model.hash != request.model.summary().identity)
                return refuse(tr("Run %1 was trained on another model (%2); load it to evaluate new queries.")
                                  .arg(outcome.runId)
                                  .arg(toQ(run.model.path)));
            if (run.contextId)
                request.context = store.context(*run.contextId).text;
        } catch (const std::exception& error) {
            return refuse(toQ(error.what()));
        }
    }
    evaluating_ = true;
    updateBar();
    QMetaObject::invokeMethod(worker_, [worker = worker_, request] { worker->evaluateQueries(request); },
                              Qt::QueuedConnection);
    return true;
}

} // namespace spui
