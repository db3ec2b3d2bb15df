#include "PlaygroundTab.h"

#include "Dialogs.h"
#include "PlaygroundWorker.h"
#include "QtConvert.h"
#include "QueryTableModel.h"
#include "Session.h"
#include "softprompt/prompt_format.h"
#include "softprompt/run_store.h"

#include <QComboBox>
#include <QCursor>
#include <QDateTime>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QKeySequence>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QShortcut>
#include <QSpinBox>
#include <QSplitter>
#include <QTextBrowser>
#include <QThread>
#include <QToolTip>
#include <QUrl>
#include <QVBoxLayout>

namespace spui {
namespace {

constexpr qint64 kSigmaFileItem = -1;
const char* const kDefaultFormat = "User: {q}\\nAssistant:";
constexpr int kRunFormatRole = Qt::UserRole + 1; // a run item's stored prompt format ("plain", "chat")

QString tokenHtml(const std::string& text)
{
    QString shown = toQ(text).toHtmlEscaped();
    shown.replace(QLatin1Char('\n'), QStringLiteral("↵<br>"));
    shown.replace(QLatin1Char(' '), QStringLiteral("&nbsp;"));
    return shown.isEmpty() ? QStringLiteral("∅") : shown;
}

QString tokenLabel(const std::string& text)
{
    QString label = toQ(text);
    label.replace(QLatin1Char(' '), QStringLiteral("␣"));
    label.replace(QLatin1Char('\n'), QStringLiteral("↵"));
    return label.isEmpty() ? QStringLiteral("∅") : label.toHtmlEscaped();
}

QString percent(double probability)
{
    if (probability >= 0.995)
        return QStringLiteral("%1%").arg(probability * 100.0, 0, 'f', 0);
    if (probability >= 0.001)
        return QStringLiteral("%1%").arg(probability * 100.0, 0, 'f', 1);
    return QStringLiteral("%1%").arg(probability * 100.0, 0, 'g', 1);
}

// Background of a token in the σ and no-context columns: how likely the full context found it.
QString agreementColour(double fullProbability)
{
    if (fullProbability >= 0.5)
        return QStringLiteral("#d9f2d9"); // the teacher would say it too
    if (fullProbability >= 0.1)
        return QStringLiteral("#fbeccb");
    return QStringLiteral("#f8d0d0"); // the teacher would hardly say it
}

QString columnTitle(sp::Condition condition)
{
    switch (condition) {
    case sp::Condition::FullContext:
        return QObject::tr("Full context (the teacher)");
    case sp::Condition::SoftPrompt:
        return QObject::tr("σ in place of the context");
    default:
        return QObject::tr("No context");
    }
}

} // namespace

PlaygroundTab::PlaygroundTab(Session* session, QWidget* parent) : QWidget(parent), session_(session)
{
    setObjectName(QStringLiteral("playgroundTab"));
    thread_ = new QThread(this);
    thread_->setObjectName(QStringLiteral("playgroundThread"));
    worker_ = new PlaygroundWorker;
    worker_->moveToThread(thread_);
    connect(thread_, &QThread::finished, worker_, &QObject::deleteLater);
    thread_->start();
    connect(worker_, &PlaygroundWorker::tokenGenerated, this, &PlaygroundTab::onToken, Qt::QueuedConnection);
    connect(worker_, &PlaygroundWorker::replyFinished, this, &PlaygroundTab::onReply, Qt::QueuedConnection);
    connect(worker_, &PlaygroundWorker::conditionFailed, this, &PlaygroundTab::onFailed, Qt::QueuedConnection);
    connect(worker_, &PlaygroundWorker::requestFinished, this, &PlaygroundTab::onFinished, Qt::QueuedConnection);

    // ---- σ and the query format ----
    runBox_ = new QComboBox(this);
    runBox_->setObjectName(QStringLiteral("playgroundRunBox"));
    runBox_->setMinimumContentsLength(36);
    runBox_->setToolTip(tr("The σ to ask: a stored run of the loaded model (its last checkpoint), or a σ "
                           "file (safetensors with prompt_embeddings [k, d])."));
    connect(runBox_, QOverload<int>::of(&QComboBox::activated), this, &PlaygroundTab::onRunChosen);
    connect(runBox_, QOverload<int>::of(&QComboBox::currentIndexChanged), this, [this] {
        if (!refreshingRuns_)
            updateHeaders();
    });
    auto* refresh = new QPushButton(tr("Refresh"), this);
    refresh->setToolTip(tr("Re-read the runs from the run database"));
    connect(refresh, &QPushButton::clicked, this, &PlaygroundTab::refreshRuns);
    format_ = new QLineEdit(QString::fromLatin1(kDefaultFormat), this);
    format_->setObjectName(QStringLiteral("playgroundFormat"));
    format_->setToolTip(tr("How a question is sent: {q} is the question, \\n a line break. Use the format "
                           "of your training queries so that σ sees what it was trained on."));

    // ---- decoding ----
    decoding_ = new QComboBox(this);
    decoding_->setObjectName(QStringLiteral("playgroundDecoding"));
    decoding_->addItem(tr("Greedy"));
    decoding_->addItem(tr("Sample"));
    decoding_->setToolTip(tr("Greedy takes the most probable token (as training and Compare do); Sample "
                             "draws from the distribution with the temperature and top-p"));
    temperature_ = new QDoubleSpinBox(this);
    temperature_->setObjectName(QStringLiteral("playgroundTemperature"));
    temperature_->setRange(0.05, 5.0);
    temperature_->setSingleStep(0.1);
    temperature_->setValue(0.8);
    temperature_->setToolTip(tr("Sampling temperature: below 1 sharper, above 1 flatter (0.05 – 5)"));
    topP_ = new QDoubleSpinBox(this);
    topP_->setObjectName(QStringLiteral("playgroundTopP"));
    topP_->setRange(0.01, 1.0);
    topP_->setSingleStep(0.05);
    topP_->setValue(0.95);
    topP_->setToolTip(tr("Top-p (nucleus): sample among the most probable tokens whose mass reaches p (0.01 – 1)"));
    seed_ = new QSpinBox(this);
    seed_->setObjectName(QStringLiteral("playgroundSeed"));
    seed_->setRange(0, 999999);
    seed_->setToolTip(tr("Sampling seed: the same seed gives the same answer"));
    maxNew_ = new QSpinBox(this);
    maxNew_->setObjectName(QStringLiteral("playgroundMaxNew"));
    maxNew_->setRange(1, 512);
    maxNew_->setValue(24);
    maxNew_->setToolTip(tr("Most tokens per answer (1 – 512); an answer also ends at end-of-text"));
    topK_ = new QSpinBox(this);
    topK_->setObjectName(QStringLiteral("playgroundTopK"));
    topK_->setRange(1, 20);
    topK_->setValue(5);
    topK_->setToolTip(tr("Candidates shown per token when you hover it (1 – 20)"));
    const auto syncSampling = [this] {
        const bool sample = decoding_->currentIndex() == 1;
        temperature_->setEnabled(sample);
        topP_->setEnabled(sample);
        seed_->setEnabled(sample);
    };
    connect(decoding_, QOverload<int>::of(&QComboBox::currentIndexChanged), this, syncSampling);
    syncSampling();

    auto* settings = new QHBoxLayout;
    settings->addWidget(new QLabel(tr("σ from:"), this));
    settings->addWidget(runBox_, 2);
    settings->addWidget(refresh);
    settings->addSpacing(12);
    settings->addWidget(new QLabel(tr("Query format:"), this));
    settings->addWidget(format_, 1);
    auto* decodingRow = new QHBoxLayout;
    decodingRow->addWidget(new QLabel(tr("Decoding:"), this));
    decodingRow->addWidget(decoding_);
    decodingRow->addWidget(new QLabel(tr("temperature"), this));
    decodingRow->addWidget(temperature_);
    decodingRow->addWidget(new QLabel(tr("top-p"), this));
    decodingRow->addWidget(topP_);
    decodingRow->addWidget(new QLabel(tr("seed"), this));
    decodingRow->addWidget(seed_);
    decodingRow->addWidget(new QLabel(tr("max new tokens"), this));
    decodingRow->addWidget(maxNew_);
    decodingRow->addWidget(new QLabel(tr("top-k on hover"), this));
    decodingRow->addWidget(topK_);
    decodingRow->addStretch(1);

    // ---- the three conversations ----
    auto* columns = new QSplitter(Qt::Horizontal, this);
    columns->setObjectName(QStringLiteral("playgroundColumns"));
    for (sp::Condition condition : sp::playgroundConditions()) {
        Column entry;
        entry.condition = condition;
        auto* box = new QWidget(columns);
        auto* boxLayout = new QVBoxLayout(box);
        boxLayout->setContentsMargins(2, 0, 2, 0);
        entry.header = new QLabel(box);
        entry.header->setTextFormat(Qt::RichText);
        entry.header->setWordWrap(true);
        entry.view = new QTextBrowser(box);
        entry.view->setObjectName(QStringLiteral("playground_%1").arg(toQ(sp::conditionKey(condition))));
        entry.view->setOpenLinks(false);
        entry.view->setOpenExternalLinks(false);
        entry.view->setMouseTracking(true);
        connect(entry.view, &QTextBrowser::highlighted, this, [this, condition](const QUrl& url) {
            const Column* owner = column(condition);
            if (!owner)
                return;
            if (url.scheme() != QLatin1String("tok")) {
                QToolTip::hideText();
                return;
            }
            const QStringList parts = url.path().split(QLatin1Char('/'));
            if (parts.size() != 2)
                return;
            const QString text = tokenTooltip(condition, parts[0].toInt(), parts[1].toInt());
            if (!text.isEmpty()) {
                QToolTip::showText(QCursor::pos(), text, owner->view);
                detail_->setText(text);
            }
        });
        boxLayout->addWidget(entry.header);
        boxLayout->addWidget(entry.view, 1);
        columns->addWidget(box);
        columns_.push_back(std::move(entry));
    }
    auto* legend = new QLabel(
        tr("<small>σ and no-context tokens are shaded by how likely the full context finds them: "
           "<span style='background:#d9f2d9'>&nbsp;≥ 50%&nbsp;</span> "
           "<span style='background:#fbeccb'>&nbsp;10 – 50%&nbsp;</span> "
           "<span style='background:#f8d0d0'>&nbsp;&lt; 10%&nbsp;</span>. Hover a token for the top-k "
           "of every condition at that point of the answer.</small>"),
        this);
    legend->setWordWrap(true);
    detail_ = new QLabel(this);
    detail_->setObjectName(QStringLiteral("playgroundTokenDetail"));
    detail_->setTextFormat(Qt::RichText);
    detail_->setStyleSheet(QStringLiteral("#playgroundTokenDetail { background: #f7f7fb; border: 1px solid #ccd; padding: 4px; }"));
    detail_->setText(tr("Hover a token of an answer to compare the top-k of every condition there."));

    // ---- the question ----
    question_ = new QPlainTextEdit(this);
    question_->setObjectName(QStringLiteral("playgroundQuestion"));
    question_->setPlaceholderText(tr("Ask anything, e.g. Where are you located?   (Alt+Enter asks)"));
    question_->setMaximumHeight(74);
    askButton_ = new QPushButton(tr("Ask"), this);
    askButton_->setObjectName(QStringLiteral("playgroundAsk"));
    askButton_->setDefault(true);
    askButton_->setToolTip(tr("Ask under every condition (Alt+Enter)"));
    stopButton_ = new QPushButton(tr("Stop"), this);
    stopButton_->setObjectName(QStringLiteral("playgroundStop"));
    newButton_ = new QPushButton(tr("New conversation"), this);
    newButton_->setObjectName(QStringLiteral("playgroundNew"));
    newButton_->setToolTip(tr("Forget the earlier turns; the next question starts afresh"));
    addButton_ = new QPushButton(tr("Add to query set"), this);
    addButton_->setObjectName(QStringLiteral("playgroundAddQuery"));
    addButton_->setToolTip(tr("Add this question (formatted) to the query set as a held-out query; Compare "
                              "can then evaluate it with a trained σ"));
    connect(askButton_, &QPushButton::clicked, this, [this] {
        QString why;
        if (!ask(&why))
            status_->setText(why);
    });
    connect(stopButton_, &QPushButton::clicked, this, &PlaygroundTab::stop);
    connect(newButton_, &QPushButton::clicked, this, &PlaygroundTab::newConversation);
    connect(addButton_, &QPushButton::clicked, this, [this] {
        QString why;
        if (!addQuestionToQueries(&why))
            status_->setText(why);
    });
    // Alt+Enter: Ctrl+Enter is the window-wide Train shortcut, and two bindings of one key fire neither.
    for (const QKeySequence& keys : {QKeySequence(Qt::ALT | Qt::Key_Return), QKeySequence(Qt::ALT | Qt::Key_Enter)}) {
        auto* shortcut = new QShortcut(keys, question_);
        shortcut->setContext(Qt::WidgetShortcut);
        connect(shortcut, &QShortcut::activated, askButton_, &QPushButton::click);
    }
    auto* buttons = new QVBoxLayout;
    buttons->addWidget(askButton_);
    buttons->addWidget(stopButton_);
    auto* buttons2 = new QVBoxLayout;
    buttons2->addWidget(newButton_);
    buttons2->addWidget(addButton_);
    auto* questionRow = new QHBoxLayout;
    questionRow->addWidget(question_, 1);
    questionRow->addLayout(buttons);
    questionRow->addLayout(buttons2);
    status_ = new QLabel(this);
    status_->setObjectName(QStringLiteral("playgroundStatus"));
    status_->setWordWrap(true);

    auto* layout = new QVBoxLayout(this);
    layout->addLayout(settings);
    layout->addLayout(decodingRow);
    layout->addWidget(columns, 1);
    layout->addWidget(legend);
    layout->addWidget(detail_);
    layout->addLayout(questionRow);
    layout->addWidget(status_);

    connect(session_, &Session::databasePathChanged, this, &PlaygroundTab::refreshRuns);
    connect(session_, &Session::promptFormatChanged, this, &PlaygroundTab::updateHeaders);
    connect(session_, &Session::modelChanged, this, [this] {
        newConversation();
        refreshRuns();
    });
    connect(session_, &Session::outcomeChanged, this, [this] {
        refreshRuns();
        if (session_->hasOutcome() && session_->lastOutcome().runId > 0)
            selectRun(session_->lastOutcome().runId);
    });
    connect(session_, &Session::contextChanged, this, [this] { updateHeaders(); });
    refreshRuns();
    for (Column& entry : columns_)
        render(entry);
    updateButtons();
}

PlaygroundTab::~PlaygroundTab()
{
    worker_->cancelUpTo(lastRequest_);
    thread_->quit();
    thread_->wait();
}

PlaygroundTab::Column* PlaygroundTab::column(sp::Condition condition)
{
    for (Column& entry : columns_)
        if (entry.condition == condition)
            return &entry;
    return nullptr;
}

const PlaygroundTab::Column* PlaygroundTab::column(sp::Condition condition) const
{
    for (const Column& entry : columns_)
        if (entry.condition == condition)
            return &entry;
    return nullptr;
}

QTextBrowser* PlaygroundTab::conversationView(sp::Condition condition) const
{
    const Column* entry = column(condition);
    return entry ? entry->view : nullptr;
}

void PlaygroundTab::setQuestion(const QString& question)
{
    question_->setPlainText(question);
}

QString PlaygroundTab::question() const
{
    return question_->toPlainText().trimmed();
}

void PlaygroundTab::setQueryFormat(const QString& format)
{
    QString shown = format;
    shown.replace(QLatin1Char('\n'), QStringLiteral("\\n"));
    format_->setText(shown);
}

sp::PromptFormat PlaygroundTab::promptFormat() const
{
    const QVariant stored = runBox_->currentIndex() >= 0 ? runBox_->currentData(kRunFormatRole) : QVariant();
    if (stored.isValid()) {
        try {
            return sp::promptFormatFromKey(toStd(stored.toString()));
        } catch (const std::exception&) {
            // a key from a newer version: fall back to the session's choice
        }
    }
    return session_->promptFormat();
}

bool PlaygroundTab::chatLayout() const
{
    if (!session_->hasModel())
        return false;
    try {
        return sp::resolvePromptFormat(promptFormat(), session_->model().chatFiles()) == sp::PromptFormat::Chat;
    } catch (const std::exception&) {
        return false; // Chat without a template: the playground says so when it is asked
    }
}

QString PlaygroundTab::formattedQuestion() const
{
    const QString asked = question();
    if (chatLayout())
        return asked; // the model's chat template puts it in a user turn
    QString format = format_->text();
    format.replace(QStringLiteral("\\n"), QStringLiteral("\n"));
    if (asked.isEmpty() || !format.contains(QStringLiteral("{q}")))
        return asked;
    // A question typed in the format already (pasted from the query set) is sent as it is.
    const QString head = format.left(format.indexOf(QStringLiteral("{q}")));
    if (!head.isEmpty() && asked.startsWith(head))
        return asked;
    return QString(format).replace(QStringLiteral("{q}"), asked);
}

sp::SamplingSettings PlaygroundTab::sampling() const
{
    sp::SamplingSettings settings;
    settings.sample = decoding_->currentIndex() == 1;
    settings.temperature = temperature_->value();
    settings.topP = topP_->value();
    settings.seed = std::uint64_t(seed_->value());
    settings.maxNewTokens = maxNew_->value();
    settings.topK = topK_->value();
    return settings;
}

void PlaygroundTab::setSampling(const sp::SamplingSettings& settings)
{
    decoding_->setCurrentIndex(settings.sample ? 1 : 0);
    temperature_->setValue(settings.temperature);
    topP_->setValue(settings.topP);
    seed_->setValue(int(settings.seed));
    maxNew_->setValue(settings.maxNewTokens);
    topK_->setValue(settings.topK);
}

void PlaygroundTab::refreshRuns()
{
    refreshingRuns_ = true;
    const qint64 previous = selectedRun();
    runBox_->clear();
    const QString path = session_->databasePath();
    if (session_->hasModel() && !path.isEmpty() && QFileInfo::exists(path)) {
        try {
            const sp::RunStore store = sp::RunStore::open(toStd(path));
            sp::RunFilter filter;
            filter.modelHash = session_->model().summary().identity;
            for (const sp::RunRecord& run : store.listRuns(filter)) {
                if (!run.lastCheckpointStep)
                    continue; // no σ stored
                const int k = run.config.value("k", 0);
                QString label = tr("Run %1 · k = %2 · %3").arg(run.id).arg(k).arg(
                    QDateTime::fromMSecsSinceEpoch(run.startedAtMs).toString(QStringLiteral("yyyy-MM-dd hh:mm")));
                if (!run.name.empty())
                    label += QStringLiteral(" · ") + toQ(run.name);
                if (run.promptFormat == "chat")
                    label += tr(" · chat");
                runBox_->addItem(label, qint64(run.id));
                runBox_->setItemData(runBox_->count() - 1, toQ(run.promptFormat), kRunFormatRole);
            }
        } catch (const std::exception& error) {
            status_->setText(tr("Could not read the runs: %1").arg(spui::errorText(error)));
        }
    }
    if (runBox_->count() == 0)
        runBox_->addItem(tr("(no trained run of this model yet: train σ first)"), qint64(0));
    if (!sigmaFile_.isEmpty())
        runBox_->addItem(tr("σ file: %1").arg(QFileInfo(sigmaFile_).fileName()), qint64(kSigmaFileItem));
    runBox_->addItem(tr("Load σ from a file…"), qint64(kSigmaFileItem - 1));
    const int keep = runBox_->findData(previous);
    runBox_->setCurrentIndex(keep >= 0 && previous != 0 ? keep : 0);
    refreshingRuns_ = false;
    updateHeaders();
}

bool PlaygroundTab::selectRun(qint64 runId)
{
    const int index = runBox_->findData(runId);
    if (index < 0)
        return false;
    runBox_->setCurrentIndex(index);
    return true;
}

qint64 PlaygroundTab::selectedRun() const
{
    return runBox_->currentIndex() >= 0 ? runBox_->currentData().toLongLong() : 0;
}

void PlaygroundTab::setSigmaFile(const QString& path)
{
    sigmaFile_ = path;
    refreshRuns();
    runBox_->setCurrentIndex(runBox_->findData(qint64(kSigmaFileItem)));
}

void PlaygroundTab::onRunChosen(int index)
{
    if (runBox_->itemData(index).toLongLong() != kSigmaFileItem - 1)
        return;
    const QString path = QFileDialog::getOpenFileName(this, tr("Open a σ"), QString(),
                                                      tr("σ (*.safetensors);;All files (*)"));
    if (path.isEmpty()) {
        runBox_->setCurrentIndex(0);
        return;
    }
    setSigmaFile(path);
}

QString PlaygroundTab::sigmaLabel() const
{
    const qint64 run = selectedRun();
    if (run > 0)
        return tr("run %1").arg(run);
    if (run == kSigmaFileItem)
        return QFileInfo(sigmaFile_).fileName();
    return QString();
}

void PlaygroundTab::updateHeaders()
{
    // The chat template adds the turn markers itself: the question format applies to plain text only.
    const bool chat = chatLayout();
    format_->setEnabled(!chat);
    format_->setToolTip(chat ? tr("Not used: σ was trained in the model's chat template, which puts the "
                                  "question in a user turn and opens the assistant's turn itself.")
                             : tr("How a question is sent: {q} is the question, \\n a line break. Use the "
                                  "format of your training queries so that σ sees what it was trained on."));
    for (Column& entry : columns_) {
        QString detail;
        switch (entry.condition) {
        case sp::Condition::FullContext:
            detail = session_->context().trimmed().isEmpty()
                         ? tr("no context: write one in the Context tab")
                         : tr("%1 characters of context").arg(session_->context().size());
            break;
        case sp::Condition::SoftPrompt:
            detail = sigmaLabel().isEmpty() ? tr("pick a trained run above") : tr("σ of %1").arg(sigmaLabel());
            break;
        default:
            detail = tr("the question alone");
            break;
        }
        entry.header->setText(QStringLiteral("<b>%1</b> <span style='color:#666'>· %2</span>")
                                  .arg(columnTitle(entry.condition).toHtmlEscaped(), detail.toHtmlEscaped()));
    }
}

void PlaygroundTab::updateButtons()
{
    const bool busy = isGenerating();
    askButton_->setEnabled(!busy);
    stopButton_->setEnabled(busy);
}

bool PlaygroundTab::ask(QString* whyNot)
{
    const auto refuse = [whyNot](const QString& reason) {
        if (whyNot)
            *whyNot = reason;
        return false;
    };
    if (isGenerating())
        return refuse(tr("An answer is still being generated; stop it first."));
    if (!session_->hasModel() || session_->activity() == Session::Activity::LoadingModel)
        return refuse(tr("No model is loaded yet: load one in the model bar."));
    if (question().isEmpty())
        return refuse(tr("Type a question first."));

    PlaygroundRequest request;
    request.id = ++lastRequest_;
    request.model = session_->model();
    request.context = toStd(session_->context());
    request.databasePath = session_->databasePath();
    const qint64 run = selectedRun();
    if (run > 0)
        request.runId = run;
    else if (run == kSigmaFileItem)
        request.sigmaFile = sigmaFile_;
    request.question = toStd(formattedQuestion());
    request.format = promptFormat();
    request.settings = sampling();
    for (Column& entry : columns_) {
        entry.error.clear();
        if (entry.condition == sp::Condition::FullContext && session_->context().trimmed().isEmpty()) {
            entry.error = tr("There is no context to ask with: write or open one in the Context tab.");
        } else if (entry.condition == sp::Condition::SoftPrompt && request.runId == 0 && request.sigmaFile.isEmpty()) {
            entry.error = tr("Pick a trained run (or a σ file) above to ask σ.");
        } else {
            std::vector<sp::ConversationTurn> history;
            for (const Turn& turn : entry.turns) {
                if (!turn.done)
                    continue;
                sp::ConversationTurn past;
                past.question = toStd(turn.question);
                for (const sp::GeneratedToken& token : turn.tokens)
                    past.reply.push_back(token.id);
                history.push_back(std::move(past));
            }
            request.history[entry.condition] = std::move(history);
            request.conditions.push_back(entry.condition);
            Turn turn;
            turn.question = toQ(request.question);
            entry.turns.push_back(std::move(turn));
        }
        render(entry);
    }
    if (request.conditions.empty())
        return refuse(tr("Nothing can be asked: see the columns."));
    activeRequest_ = request.id;
    updateButtons();
    status_->setText(tr("Generating…"));
    QMetaObject::invokeMethod(worker_, [worker = worker_, request] { worker->generate(request); },
                              Qt::QueuedConnection);
    return true;
}

void PlaygroundTab::stop()
{
    if (activeRequest_ != 0)
        worker_->cancelUpTo(activeRequest_);
}

void PlaygroundTab::newConversation()
{
    stop();
    for (Column& entry : columns_) {
        entry.turns.clear();
        entry.error.clear();
        render(entry);
    }
    status_->setText(tr("New conversation."));
}

bool PlaygroundTab::addQuestionToQueries(QString* whyNot)
{
    const QString query = formattedQuestion();
    if (query.isEmpty()) {
        if (whyNot)
            *whyNot = tr("Type a question first.");
        return false;
    }
    for (const sp::Query& existing : session_->queries()->queries())
        if (toQ(existing.text) == query) {
            if (whyNot)
                *whyNot = tr("This question is already in the query set.");
            return false;
        }
    session_->queries()->appendQueries({sp::Query{toStd(query), "", true}});
    status_->setText(tr("Added to the query set as a held-out query. Compare evaluates it with the current "
                        "run's σ on demand."));
    emit queryAdded(query);
    return true;
}

int PlaygroundTab::turnCount(sp::Condition condition) const
{
    const Column* entry = column(condition);
    return entry ? int(entry->turns.size()) : 0;
}

QString PlaygroundTab::replyText(sp::Condition condition, int turn) const
{
    const Column* entry = column(condition);
    if (!entry || entry->turns.empty())
        return QString();
    const int index = turn < 0 ? int(entry->turns.size()) - 1 : turn;
    if (index < 0 || index >= int(entry->turns.size()))
        return QString();
    QString text;
    for (const sp::GeneratedToken& token : entry->turns[std::size_t(index)].tokens)
        if (!token.special)
            text += toQ(token.text);
    return text;
}

QString PlaygroundTab::errorText(sp::Condition condition) const
{
    const Column* entry = column(condition);
    return entry ? entry->error : QString();
}

QString PlaygroundTab::tokenTooltip(sp::Condition condition, int turnIndex, int tokenIndex) const
{
    const Column* entry = column(condition);
    if (!entry || turnIndex < 0 || turnIndex >= int(entry->turns.size()))
        return QString();
    const Turn& turn = entry->turns[std::size_t(turnIndex)];
    if (tokenIndex < 0 || tokenIndex >= int(turn.tokens.size()))
        return QString();
    const sp::GeneratedToken& token = turn.tokens[std::size_t(tokenIndex)];
    // While the answer is still coming, only the generating condition's own top-k is known.
    std::map<sp::Condition, const sp::GeneratedToken*> under;
    under[condition] = &token;
    for (const auto& [other, tokens] : turn.readUnder)
        if (tokenIndex < int(tokens.size()))
            under[other] = &tokens[std::size_t(tokenIndex)];
    QString html = tr("<p style='white-space:nowrap'><b>“%1”</b> · token %2 of the %3 answer</p>")
                       .arg(tokenLabel(token.text))
                       .arg(tokenIndex + 1)
                       .arg(columnTitle(condition).toHtmlEscaped());
    html += QStringLiteral("<table cellspacing='0' cellpadding='3'><tr>");
    for (sp::Condition shown : sp::playgroundConditions())
        if (under.count(shown))
            html += QStringLiteral("<th align='left'>%1</th>").arg(toQ(sp::conditionLabel(shown)).toHtmlEscaped());
    html += QStringLiteral("</tr><tr>");
    for (sp::Condition shown : sp::playgroundConditions())
        if (under.count(shown))
            html += QStringLiteral("<td>p = <b>%1</b></td>").arg(percent(under[shown]->probability));
    html += QStringLiteral("</tr>");
    std::size_t rows = 0;
    for (const auto& [shown, scored] : under)
        rows = std::max(rows, scored->topK.size());
    for (std::size_t rank = 0; rank < rows; ++rank) {
        html += QStringLiteral("<tr>");
        for (sp::Condition shown : sp::playgroundConditions()) {
            if (!under.count(shown))
                continue;
            const auto& top = under[shown]->topK;
            if (rank >= top.size()) {
                html += QStringLiteral("<td></td>");
                continue;
            }
            const bool same = top[rank].id == token.id;
            html += QStringLiteral("<td>%1%2 %3%4</td>")
                        .arg(same ? QStringLiteral("<b>") : QString(), tokenLabel(top[rank].text),
                             percent(top[rank].probability), same ? QStringLiteral("</b>") : QString());
        }
        html += QStringLiteral("</tr>");
    }
    html += QStringLiteral("</table>");
    return html;
}

void PlaygroundTab::showTokenDetail(sp::Condition condition, int turn, int token)
{
    const QString text = tokenTooltip(condition, turn, token);
    if (!text.isEmpty())
        detail_->setText(text);
}

void PlaygroundTab::render(Column& entry)
{
    QString html;
    for (std::size_t t = 0; t < entry.turns.size(); ++t) {
        const Turn& turn = entry.turns[t];
        QString question = turn.question.toHtmlEscaped();
        question.replace(QLatin1Char('\n'), QStringLiteral("<br>"));
        html += QStringLiteral("<p style='margin:6px 0 2px 0;color:#444'><b>You</b><br>%1</p>").arg(question);
        html += QStringLiteral("<p style='margin:2px 0 8px 0'>");
        const auto full = turn.readUnder.find(sp::Condition::FullContext);
        for (std::size_t i = 0; i < turn.tokens.size(); ++i) {
            QString style = turn.tokens[i].special ? QStringLiteral("color:#999;text-decoration:none;")
                                                   : QStringLiteral("color:#1a1a1a;text-decoration:none;");
            if (entry.condition != sp::Condition::FullContext && full != turn.readUnder.end() &&
                i < full->second.size())
                style += QStringLiteral("background-color:%1;").arg(agreementColour(full->second[i].probability));
            html += QStringLiteral("<a href='tok:%1/%2' style='%3'>%4</a>")
                        .arg(t)
                        .arg(i)
                        .arg(style, tokenHtml(turn.tokens[i].text));
        }
        if (!turn.done)
            html += QStringLiteral(" <span style='color:#999'>▍</span>");
        else if (turn.cancelled)
            html += QStringLiteral(" <span style='color:#999'>(stopped)</span>");
        html += QStringLiteral("</p>");
    }
    if (!entry.error.isEmpty())
        html += QStringLiteral("<p style='color:#a33'>%1</p>").arg(entry.error.toHtmlEscaped());
    if (html.isEmpty())
        html = tr("<p style='color:#888'>Answers appear here as they are generated.</p>");
    entry.view->setHtml(html);
    entry.view->moveCursor(QTextCursor::End);
}

void PlaygroundTab::onToken(int requestId, int condition, const sp::GeneratedToken& token)
{
    Column* entry = column(sp::Condition(condition));
    if (requestId != activeRequest_ || !entry || entry->turns.empty())
        return;
    entry->turns.back().tokens.push_back(token);
    render(*entry);
}

void PlaygroundTab::onReply(const PlaygroundReply& reply)
{
    Column* entry = column(reply.generation.condition);
    if (reply.requestId != activeRequest_ || !entry || entry->turns.empty())
        return;
    Turn& turn = entry->turns.back();
    turn.tokens = reply.generation.tokens;
    turn.readUnder = reply.readUnder;
    turn.done = true;
    turn.cancelled = reply.generation.cancelled;
    render(*entry);
}

void PlaygroundTab::onFailed(int requestId, int condition, const QString& message)
{
    Column* entry = column(sp::Condition(condition));
    if (requestId != activeRequest_ || !entry)
        return;
    entry->error = message;
    if (!entry->turns.empty() && !entry->turns.back().done)
        entry->turns.pop_back(); // a question that was never answered is not part of the conversation
    render(*entry);
}

void PlaygroundTab::onFinished(int requestId)
{
    if (requestId != activeRequest_)
        return;
    for (Column& entry : columns_) {
        if (!entry.turns.empty() && !entry.turns.back().done) {
            // Stopped before this condition began: drop the unanswered question.
            entry.turns.pop_back();
            render(entry);
        }
    }
    activeRequest_ = 0;
    updateButtons();
    status_->setText(tr("Done. Hover a token to compare the conditions; ask again to continue the conversation."));
    emit generationFinished();
}

} // namespace spui
