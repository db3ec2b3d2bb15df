#include "Session.h"

#include "QtConvert.h"
#include "QueryTableModel.h"
#include "softprompt/paths.h"

#include <QThread>

#include <algorithm>
#include <cerrno>

#ifdef __linux__
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace spui {
namespace {

// The worker thread, and the LibTorch compute threads it starts, run a few nice levels below the
// GUI thread, so that on a busy CPU the event loop still gets a core when it wakes up. Training
// loses nothing on an idle machine.
void lowerCurrentThreadPriority()
{
#ifdef __linux__
    const auto tid = id_t(syscall(SYS_gettid));
    errno = 0;
    const int current = getpriority(PRIO_PROCESS, tid);
    if (errno == 0)
        setpriority(PRIO_PROCESS, tid, std::min(current + 4, 19));
#endif
}

} // namespace

Session::Session(QObject* parent) : QObject(parent)
{
    queries_ = new QueryTableModel(this);
    thread_ = new QThread(this);
    thread_->setObjectName(QStringLiteral("training"));
    worker_ = new TrainingWorker;
    worker_->moveToThread(thread_);
    connect(thread_, &QThread::finished, worker_, &QObject::deleteLater);
    connect(thread_, &QThread::started, worker_, &lowerCurrentThreadPriority, Qt::DirectConnection);
    thread_->start();

    connect(worker_, &TrainingWorker::modelLoaded, this, [this](const LoadedModel& loaded) {
        model_ = loaded.model;
        modelSource_ = loaded.source;
        setActivity(Activity::Idle);
        if (!loaded.warning.isEmpty())
            emit modelWarning(loaded.warning);
        emit modelChanged();
    });
    connect(worker_, &TrainingWorker::modelLoadFailed, this,
            [this](const QString& source, const QString& message) {
                setActivity(Activity::Idle);
                emit modelLoadFailed(source, message);
            });
    connect(worker_, &TrainingWorker::trainingFinished, this, [this](const TrainingOutcome& outcome) {
        lastOutcome_ = outcome;
        hasOutcome_ = true;
        setActivity(Activity::Idle);
        emit outcomeChanged();
    });
    connect(worker_, &TrainingWorker::targetsReady, this, [this](const std::vector<std::string>& targets) {
        queries_->setTargetsOfNonEmpty(targets);
        setActivity(Activity::Idle);
        emit targetsFilled(int(targets.size()));
    });
    connect(worker_, &TrainingWorker::targetsFailed, this, [this](const QString& message) {
        setActivity(Activity::Idle);
        emit targetsFailed(message);
    });

    try {
        databasePath_ = toQ(sp::defaultDatabasePath());
    } catch (const std::exception&) {
        databasePath_.clear(); // no writable data folder: runs train unsaved, and the worker says so
    }
}

Session::~Session()
{
    worker_->requestAbandon();
    worker_->setPaused(false);
    thread_->quit();
    thread_->wait();
}

const sp::Tokenizer* Session::tokenizer() const
{
    return model_.isLoaded() ? &model_.tokenizer() : nullptr;
}

void Session::setContext(const QString& text)
{
    if (text == context_)
        return;
    const QString before = contextLabel();
    context_ = text;
    emit contextChanged();
    if (contextLabel() != before)
        emit contextLabelChanged(contextLabel());
}

void Session::setContextName(const QString& name)
{
    const QString before = contextLabel();
    contextName_ = name;
    namedText_ = context_;
    if (contextLabel() != before)
        emit contextLabelChanged(contextLabel());
}

QString Session::contextLabel() const
{
    const QString name = contextName();
    return name.isEmpty() ? contextSummary(context_) : name;
}

QString Session::contextSummary(const QString& text)
{
    const QString simplified = text.simplified();
    if (simplified.isEmpty())
        return tr("empty context");
    constexpr int kWords = 6;
    constexpr int kMaxCharacters = 48;
    const QStringList words = simplified.split(QLatin1Char(' '));
    const QString head = words.mid(0, kWords).join(QLatin1Char(' '));
    const QString shown = head.left(kMaxCharacters);
    const bool cut = words.size() > kWords || shown.size() < head.size();
    return QStringLiteral("“%1%2”").arg(shown, cut ? QStringLiteral("…") : QString());
}

void Session::setDatabasePath(const QString& path)
{
    if (path == databasePath_)
        return;
    databasePath_ = path;
    emit databasePathChanged();
}

void Session::setActivity(Activity activity)
{
    if (activity_ == activity)
        return;
    activity_ = activity;
    emit activityChanged(activity);
}

bool Session::loadModel(const QString& source, const sp::ModelLoadOptions& options, QString* whyNot)
{
    if (isBusy()) {
        if (whyNot)
            *whyNot = tr("Wait for the current task to finish (or stop it) before loading another model.");
        return false;
    }
    setActivity(Activity::LoadingModel);
    worker_->resetControl();
    QMetaObject::invokeMethod(worker_,
                              [worker = worker_, source, options] { worker->loadModel(source, options); });
    return true;
}

bool Session::startTraining(const sp::TrainConfig& config, const QString& runName,
                            const std::vector<int>& sweepKs, QString* whyNot)
{
    auto refuse = [whyNot](const QString& message) {
        if (whyNot)
            *whyNot = message;
        return false;
    };
    if (isBusy())
        return refuse(tr("A task is already running; stop it first."));
    if (!hasModel())
        return refuse(tr("No model is loaded: choose one in the model bar (the demo model works offline)."));
    if (context_.trimmed().isEmpty())
        return refuse(
            tr("The context is empty: paste or open the long prompt to compress on the Context tab."));
    TrainingJob job;
    job.queries = queries_->nonEmptyQueries();
    if (job.queries.empty())
        return refuse(tr("There are no queries: add some on the Queries tab, or open an example."));
    job.model = model_;
    job.modelSource = modelSource_;
    job.context = toStd(context_);
    job.config = config;
    job.databasePath = databasePath_;
    job.runName = runName;
    job.sweepKs = sweepKs;
    job.format = promptFormat_;
    worker_->resetControl();
    setActivity(Activity::Training);
    QMetaObject::invokeMethod(worker_, [worker = worker_, job] { worker->train(job); });
    return true;
}

void Session::setPromptFormat(sp::PromptFormat format)
{
    if (format == promptFormat_)
        return;
    promptFormat_ = format;
    emit promptFormatChanged();
}

bool Session::fillTargets(int maxNewTokens, QString* whyNot)
{
    auto refuse = [whyNot](const QString& message) {
        if (whyNot)
            *whyNot = message;
        return false;
    };
    if (isBusy())
        return refuse(tr("A task is already running; wait for it or stop it first."));
    if (!hasModel())
        return refuse(tr("Load a model first: the targets are its own continuations."));
    if (context_.trimmed().isEmpty())
        return refuse(tr("The context is empty: the teacher needs it to produce the targets."));
    std::vector<sp::Query> queries = queries_->nonEmptyQueries();
    if (queries.empty())
        return refuse(tr("There are no queries to fill."));
    worker_->resetControl();
    setActivity(Activity::FillingTargets);
    QMetaObject::invokeMethod(
        worker_, [worker = worker_, model = model_, context = toStd(context_), queries = std::move(queries),
                  maxNewTokens, format = promptFormat_] {
            worker->fillTargets(model, context, format, queries, maxNewTokens);
        });
    return true;
}

void Session::cancel()
{
    worker_->requestCancel();
    worker_->setPaused(false);
}

void Session::abandon()
{
    worker_->requestAbandon();
    worker_->setPaused(false);
}

void Session::setPaused(bool paused)
{
    worker_->setPaused(paused);
}

bool Session::isPaused() const
{
    return worker_->isPaused();
}

void Session::showOutcome(const TrainingOutcome& outcome)
{
    lastOutcome_ = outcome;
    hasOutcome_ = true;
    emit outcomeChanged();
}

} // namespace spui
