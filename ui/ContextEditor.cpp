#include "ContextEditor.h"

#include "PromptLayoutStrip.h"
#include "QtConvert.h"
#include "Session.h"
#include "softprompt/error.h"

#include <QCheckBox>
#include <QCoreApplication>
#include <QFile>
#include <QFileInfo>
#include <QFrame>
#include <QHBoxLayout>
#include <QLabel>
#include <QPlainTextEdit>
#include <QPointer>
#include <QProgressBar>
#include <QPushButton>
#include <QSplitter>
#include <QStringDecoder>
#include <QTextBrowser>
#include <QTextCursor>
#include <QThreadPool>
#include <QTimer>
#include <QVBoxLayout>

#include <algorithm>

namespace spui {
namespace {
// The boundary view shows at most this many tokens: enough to judge how text splits, small enough
// to lay out instantly.
constexpr int kMaxBoundaryTokens = 4000;
constexpr int kRecountDelayMs = 250;
// Longer texts are tokenised on a pool thread while typing, so the editor never stalls.
constexpr int kBackgroundCharacters = 20000;
} // namespace

ContextEditor::ContextEditor(Session* session, QWidget* parent) : QWidget(parent), session_(session)
{
    nameLabel_ = new QLabel(this);
    nameLabel_->setObjectName(QStringLiteral("contextName"));
    auto* openButton = new QPushButton(tr("&Open text file…"), this);
    openButton->setObjectName(QStringLiteral("openContextButton"));
    connect(openButton, &QPushButton::clicked, this, &ContextEditor::openFileRequested);
    boundariesBox_ = new QCheckBox(tr("Show token &boundaries"), this);
    boundariesBox_->setObjectName(QStringLiteral("showBoundariesBox"));
    boundariesBox_->setChecked(true);

    editor_ = new QPlainTextEdit(this);
    editor_->setObjectName(QStringLiteral("contextEdit"));
    editor_->setPlaceholderText(tr("Paste the long context to compress (a system prompt, a style guide, a "
                                   "glossary), or open a text file."));
    editor_->setLineWrapMode(QPlainTextEdit::WidgetWidth);

    boundaries_ = new QTextBrowser(this);
    boundaries_->setObjectName(QStringLiteral("tokenBoundaries"));
    boundaries_->setOpenLinks(false);
    boundaries_->setPlaceholderText(tr("The tokens appear here once a model is loaded."));

    countLabel_ = new QLabel(this);
    countLabel_->setObjectName(QStringLiteral("contextTokenCount"));
    fillBar_ = new QProgressBar(this);
    fillBar_->setObjectName(QStringLiteral("windowFill"));
    fillBar_->setRange(0, 100);
    fillBar_->setMinimumWidth(220);
    fillBar_->setMaximumWidth(320);
    fillBar_->setFormat(tr("%p% of the window"));

    warning_ = new QFrame(this);
    warning_->setObjectName(QStringLiteral("contextTooLongWarning"));
    warning_->setFrameShape(QFrame::StyledPanel);
    warning_->setStyleSheet(
        QStringLiteral("#contextTooLongWarning { background: #fff3cd; border: 1px solid #e0b000; }"));
    warningText_ = new QLabel(warning_);
    warningText_->setWordWrap(true);
    auto* keepFirst = new QPushButton(tr("Keep the first part"), warning_);
    keepFirst->setObjectName(QStringLiteral("keepFirstButton"));
    auto* keepLast = new QPushButton(tr("Keep the last part"), warning_);
    keepLast->setObjectName(QStringLiteral("keepLastButton"));
    auto* leave = new QPushButton(tr("Leave it as it is"), warning_);
    leave->setToolTip(tr("Training will refuse this context until it fits; choose a model with a longer "
                         "window, or shorten it yourself."));
    connect(keepFirst, &QPushButton::clicked, this, &ContextEditor::keepFirstTokens);
    connect(keepLast, &QPushButton::clicked, this, &ContextEditor::keepLastTokens);
    connect(leave, &QPushButton::clicked, this, [this] {
        warningDismissed_ = true;
        warning_->hide();
    });
    auto* warningLayout = new QHBoxLayout(warning_);
    warningLayout->addWidget(warningText_, 1);
    warningLayout->addWidget(keepFirst);
    warningLayout->addWidget(keepLast);
    warningLayout->addWidget(leave);
    warning_->hide();

    auto* top = new QHBoxLayout;
    top->addWidget(nameLabel_, 1);
    top->addWidget(boundariesBox_);
    top->addWidget(openButton);
    auto* splitter = new QSplitter(Qt::Vertical, this);
    splitter->addWidget(editor_);
    splitter->addWidget(boundaries_);
    splitter->setStretchFactor(0, 3);
    splitter->setStretchFactor(1, 2);
    auto* bottom = new QHBoxLayout;
    bottom->addWidget(countLabel_, 1);
    bottom->addWidget(fillBar_);
    layoutStrip_ = new PromptLayoutStrip(session_, this);
    layoutStrip_->setObjectName(QStringLiteral("promptLayoutStrip"));
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(top);
    layout->addWidget(layoutStrip_);
    layout->addWidget(warning_);
    layout->addWidget(splitter, 1);
    layout->addLayout(bottom);

    recountTimer_ = new QTimer(this);
    recountTimer_->setSingleShot(true);
    recountTimer_->setInterval(kRecountDelayMs);
    connect(recountTimer_, &QTimer::timeout, this, qOverload<>(&ContextEditor::recount));
    connect(editor_, &QPlainTextEdit::textChanged, this, [this] {
        session_->setContext(editor_->toPlainText());
        warningDismissed_ = false;
        scheduleRecount();
    });
    connect(boundariesBox_, &QCheckBox::toggled, boundaries_, &QWidget::setVisible);
    connect(boundariesBox_, &QCheckBox::toggled, this, [this](bool on) {
        if (on)
            recount();
    });
    connect(session_, &Session::modelChanged, this, [this] {
        if (session_->hasModel())
            setTokenizer(session_->model().tokenizer(), int(session_->model().summary().contextWindow));
        else
            setTokenizer(std::nullopt, 0);
    });
    connect(session_, &Session::contextChanged, this, [this] {
        if (session_->context() != editor_->toPlainText())
            setText(session_->context());
    });
    connect(session_, &Session::contextLabelChanged, this, &ContextEditor::updateNameLabel);
    updateNameLabel();
    updateInfo();
}

void ContextEditor::setText(const QString& text, const QString& name)
{
    if (text != editor_->toPlainText()) {
        // One edit on the editor's undo stack (setPlainText would clear it): Ctrl+Z in the editor
        // brings back the text that an opened file or example replaced.
        QTextCursor cursor(editor_->document());
        cursor.beginEditBlock();
        cursor.select(QTextCursor::Document);
        cursor.insertText(text);
        cursor.endEditBlock();
    }
    if (!name.isEmpty())
        session_->setContextName(name);
    updateNameLabel();
    recountNow();
}

void ContextEditor::updateNameLabel()
{
    if (session_->context().isEmpty())
        nameLabel_->setText(tr("Context c: the long prompt σ should replace"));
    else
        nameLabel_->setText(tr("Context c: <b>%1</b>").arg(session_->contextLabel().toHtmlEscaped()));
}

QString ContextEditor::nameLabelText() const
{
    return nameLabel_->text();
}

QString ContextEditor::text() const
{
    return editor_->toPlainText();
}

bool ContextEditor::openFile(const QString& path, QString* error)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        if (error)
            *error = tr("%1 cannot be read (%2). Check that the file exists and that you may read it.")
                         .arg(path, file.errorString());
        return false;
    }
    const QByteArray bytes = file.readAll();
    if (const qsizetype nul = bytes.indexOf('\0'); nul >= 0) {
        if (error)
            *error = tr("%1 is not a text file: it holds NUL bytes (the first at byte %2, %3 of %4 bytes are "
                        "NUL). Open the plain-text (UTF-8) version of the context, or paste the text itself.")
                         .arg(path)
                         .arg(nul)
                         .arg(bytes.count('\0'))
                         .arg(bytes.size());
        return false;
    }
    auto decoder = QStringDecoder(QStringDecoder::Utf8);
    QString text = decoder(bytes);
    if (decoder.hasError()) {
        if (error)
            *error = tr("%1 is not UTF-8 text. Save it as UTF-8 (most editors offer this under "
                        "\"Save as\") and open it again.")
                         .arg(path);
        return false;
    }
    if (text.startsWith(QChar(0xFEFF)))
        text.remove(0, 1);
    setText(text, QFileInfo(path).fileName());
    return true;
}

void ContextEditor::setTokenizer(std::optional<sp::Tokenizer> tokenizer, int windowTokens)
{
    tokenizer_ = std::move(tokenizer);
    windowTokens_ = windowTokens;
    recount();
}

void ContextEditor::setReservedTokens(int tokens)
{
    reservedTokens_ = std::max(0, tokens);
    updateInfo();
}

void ContextEditor::scheduleRecount()
{
    recountTimer_->start();
}

void ContextEditor::recountNow()
{
    recount(false);
}

void ContextEditor::recount()
{
    recount(editor_->toPlainText().size() >= kBackgroundCharacters);
}

void ContextEditor::recount(bool inBackground)
{
    recountTimer_->stop();
    const int generation = ++generation_;
    if (!tokenizer_) {
        ids_.clear();
        tokenCount_ = -1;
        boundaries_->clear();
        updateInfo();
        return;
    }
    const std::string text = toStd(editor_->toPlainText());
    if (!inBackground) {
        applyTokens(generation, encodeOrError(*tokenizer_, text));
        return;
    }
    // A long text is tokenised off the GUI thread (the tokenizer is safe to share between threads);
    // a result that arrives after further edits is dropped.
    countLabel_->setText(tr("Counting tokens…"));
    QPointer<ContextEditor> self(this);
    QThreadPool::globalInstance()->start([self, generation, tokenizer = *tokenizer_, text] {
        Encoded encoded = encodeOrError(tokenizer, text);
        QMetaObject::invokeMethod(
            QCoreApplication::instance(),
            [self, generation, encoded = std::move(encoded)] {
                if (self)
                    self->applyTokens(generation, encoded);
            },
            Qt::QueuedConnection);
    });
}

ContextEditor::Encoded ContextEditor::encodeOrError(const sp::Tokenizer& tokenizer, const std::string& text)
{
    Encoded encoded;
    try {
        encoded.ids = tokenizer.encode(text);
    } catch (const std::exception& error) {
        encoded.error = toQ(error.what());
    }
    return encoded;
}

void ContextEditor::applyTokens(int generation, const Encoded& encoded)
{
    if (generation != generation_)
        return; // the text changed since
    ids_ = encoded.ids;
    if (!encoded.error.isEmpty()) {
        ids_.clear();
        tokenCount_ = -1;
        countLabel_->setText(tr("The text cannot be tokenised: %1").arg(encoded.error));
        boundaries_->clear();
        return;
    }
    tokenCount_ = int(ids_.size());
    if (boundariesBox_->isChecked())
        boundaries_->setHtml(tokenBoundaryHtml());
    updateInfo();
    emit tokenCountChanged(tokenCount_);
}

QString ContextEditor::tokenBoundaryHtml() const
{
    const sp::Tokenizer* tokenizer = tokenizer_ ? &*tokenizer_ : nullptr;
    if (!tokenizer || ids_.empty())
        return {};
    const size_t shown = std::min(ids_.size(), size_t(kMaxBoundaryTokens));
    const std::vector<std::int32_t> head(ids_.begin(), ids_.begin() + long(shown));
    std::vector<std::string> pieces;
    try {
        pieces = tokenizer->decodePieces(head);
    } catch (const std::exception& error) {
        return tr("<i>Token pieces unavailable: %1</i>").arg(toQ(error.what()).toHtmlEscaped());
    }
    static const char* const shades[] = {"#dbeafe", "#fde68a", "#d1fae5", "#fbcfe8"};
    QString html = QStringLiteral("<div style='font-family: monospace; line-height: 150%;'>");
    for (size_t i = 0; i < pieces.size(); ++i) {
        QString piece = toQ(pieces[i]).toHtmlEscaped();
        piece.replace(QLatin1String(" "), QStringLiteral("&nbsp;"));
        piece.replace(QLatin1String("\n"), QStringLiteral("↵<br>"));
        piece.replace(QLatin1String("\t"), QStringLiteral("→"));
        if (piece.isEmpty())
            piece = QStringLiteral("∅");
        html +=
            QStringLiteral("<span style='background:%1;'>%2</span>").arg(QLatin1String(shades[i % 4]), piece);
    }
    if (shown < ids_.size())
        html += tr("<p><i>… %1 more tokens not shown.</i></p>").arg(ids_.size() - shown);
    html += QStringLiteral("</div>");
    return html;
}

void ContextEditor::updateInfo()
{
    if (!tokenizer_) {
        countLabel_->setText(
            tr("%1 characters · load a model to count tokens").arg(editor_->toPlainText().size()));
        fillBar_->setValue(0);
        overLong_ = false;
        warning_->hide();
        return;
    }
    if (tokenCount_ < 0)
        return;
    const int budget = std::max(0, windowTokens_ - reservedTokens_);
    overLong_ = windowTokens_ > 0 && tokenCount_ > budget;
    const int percent = windowTokens_ > 0 ? int(std::lround(100.0 * tokenCount_ / windowTokens_)) : 0;
    fillBar_->setValue(std::min(percent, 100));
    fillBar_->setFormat(percent > 100 ? tr("%1% of the window").arg(percent) : tr("%p% of the window"));
    countLabel_->setText(tr("%1 tokens · %2 characters · the model's window is %3 tokens")
                             .arg(QLocale().toString(tokenCount_))
                             .arg(QLocale().toString(editor_->toPlainText().size()))
                             .arg(QLocale().toString(windowTokens_)));
    if (overLong_) {
        warningText_->setText(
            tr("<b>The context is too long for this model.</b> It has %1 tokens, but the model sees %2 "
               "positions and a query with its answer needs about %3 more, so at most %4 tokens of context "
               "fit. Training refuses it until it fits. Keep the first or the last %4 tokens, or load a "
               "model with a longer window.")
                .arg(tokenCount_)
                .arg(windowTokens_)
                .arg(reservedTokens_)
                .arg(budget));
        if (!warningDismissed_)
            warning_->show();
    } else {
        warning_->hide();
    }
}

void ContextEditor::keepFirstTokens()
{
    truncateTo(true);
}

void ContextEditor::keepLastTokens()
{
    truncateTo(false);
}

void ContextEditor::truncateTo(bool keepStart)
{
    const sp::Tokenizer* tokenizer = tokenizer_ ? &*tokenizer_ : nullptr;
    if (!tokenizer || !overLong_)
        return;
    const size_t budget = size_t(std::max(0, windowTokens_ - reservedTokens_));
    std::vector<std::int32_t> kept =
        keepStart ? std::vector<std::int32_t>(ids_.begin(), ids_.begin() + long(budget))
                  : std::vector<std::int32_t>(ids_.end() - long(budget), ids_.end());
    // Decoding a cut sequence and re-encoding can merge differently at the cut; trim until it fits.
    QString text = toQ(tokenizer->decode(kept));
    while (!kept.empty() && tokenizer->encode(toStd(text)).size() > budget) {
        if (keepStart)
            kept.pop_back();
        else
            kept.erase(kept.begin());
        text = toQ(tokenizer->decode(kept));
    }
    setText(text); // undoable, and the name no longer applies to the cut text
}

} // namespace spui
