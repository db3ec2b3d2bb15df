#include "PromptLayoutStrip.h"

#include "QtConvert.h"
#include "Session.h"
#include "softprompt/error.h"

#include <QComboBox>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QVBoxLayout>

#include <algorithm>

namespace spui {
namespace {

// One colour per piece; the context box is the one σ replaces.
const char* const kBoxColours[5] = {"#e8eaf6", "#fff3cd", "#e8eaf6", "#d4edda", "#e8eaf6"};

std::string leadingSpecialText(const sp::Tokenizer& tokenizer)
{
    const std::vector<std::int32_t> plain = tokenizer.encode("a", false);
    const std::vector<std::int32_t> decorated = tokenizer.encode("a", true);
    if (plain.empty() || decorated.size() <= plain.size())
        return {};
    const auto found = std::search(decorated.begin(), decorated.end(), plain.begin(), plain.end());
    return tokenizer.decode(std::vector<std::int32_t>(decorated.begin(), found), false);
}

} // namespace

QString PromptLayoutStrip::visibleMarker(const std::string& text)
{
    if (text.empty())
        return QStringLiteral("∅");
    QString shown = toQ(text);
    // A space at either end is part of the marker ("User: "): make it visible.
    int trailing = 0;
    while (trailing < shown.size() && shown.at(shown.size() - 1 - trailing) == QLatin1Char(' '))
        ++trailing;
    shown.chop(trailing);
    shown = shown.toHtmlEscaped() + QString(trailing, QChar(0x2423)); // ␣
    shown.replace(QLatin1Char('\n'), QStringLiteral("↵"));
    return shown;
}

PromptLayoutStrip::PromptLayoutStrip(Session* session, QWidget* parent) : QWidget(parent), session_(session)
{
    chooser_ = new QComboBox(this);
    chooser_->setObjectName(QStringLiteral("promptFormatChooser"));
    chooser_->addItem(tr("Auto (the model's chat template when it has one)"), int(sp::PromptFormat::Auto));
    chooser_->addItem(tr("Chat template: context in the system turn"), int(sp::PromptFormat::Chat));
    chooser_->addItem(tr("Plain text: context, then the query"), int(sp::PromptFormat::Plain));
    chooser_->setToolTip(tr("How the context and each query go into the model's prompt. σ replaces the "
                            "context only; the markers around it stay."));
    connect(chooser_, &QComboBox::currentIndexChanged, this, [this] {
        session_->setPromptFormat(sp::PromptFormat(chooser_->currentData().toInt()));
    });

    auto* grid = new QGridLayout;
    grid->setHorizontalSpacing(4);
    grid->setVerticalSpacing(1);
    const QString captions[5] = {tr("pre"), tr("context → σ"), tr("mid"), tr("query"), tr("post")};
    const char* const names[5] = {"layoutPre", "layoutContext", "layoutMid", "layoutQuery", "layoutPost"};
    for (int i = 0; i < 5; ++i) {
        auto* caption = new QLabel(captions[i], this);
        caption->setStyleSheet(QStringLiteral("color: #555; font-size: small;"));
        boxes_[i] = new QLabel(this);
        boxes_[i]->setObjectName(QString::fromLatin1(names[i]));
        boxes_[i]->setTextFormat(Qt::RichText);
        boxes_[i]->setStyleSheet(QStringLiteral("QLabel { background: %1; border: 1px solid #999; padding: 3px; "
                                                "font-family: monospace; }")
                                     .arg(QLatin1String(kBoxColours[i])));
        grid->addWidget(caption, 0, i);
        grid->addWidget(boxes_[i], 1, i);
        grid->setColumnStretch(i, i == 1 || i == 3 ? 3 : 1);
    }
    boxes_[1]->setText(tr("<i>your context</i> → σ"));
    boxes_[3]->setText(tr("<i>each query</i>"));

    noContext_ = new QLabel(this);
    noContext_->setObjectName(QStringLiteral("layoutNoContext"));
    noContext_->setTextFormat(Qt::RichText);
    noContext_->setWordWrap(true);
    note_ = new QLabel(this);
    note_->setObjectName(QStringLiteral("layoutNote"));
    note_->setWordWrap(true);
    note_->setStyleSheet(QStringLiteral("color: #7a4d00;"));

    auto* top = new QHBoxLayout;
    auto* chooserLabel = new QLabel(tr("Prompt &format:"), this);
    chooserLabel->setBuddy(chooser_);
    top->addWidget(chooserLabel);
    top->addWidget(chooser_);
    top->addStretch(1);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addLayout(top);
    layout->addLayout(grid);
    layout->addWidget(noContext_);
    layout->addWidget(note_);

    connect(session_, &Session::modelChanged, this, &PromptLayoutStrip::refresh);
    connect(session_, &Session::promptFormatChanged, this, [this] {
        const int index = chooser_->findData(int(session_->promptFormat()));
        if (index >= 0 && index != chooser_->currentIndex())
            chooser_->setCurrentIndex(index);
        refresh();
    });
    refresh();
}

QString PromptLayoutStrip::noteText() const
{
    return note_->text();
}

void PromptLayoutStrip::refresh()
{
    pieces_ = sp::PromptPieces();
    QString note;
    if (!session_->hasModel()) {
        note = tr("Load a model to see where the context and the queries go in its prompt.");
    } else {
        const sp::ChatModelFiles& files = session_->model().chatFiles();
        try {
            const sp::PromptFormat format = sp::resolvePromptFormat(session_->promptFormat(), files);
            if (format == sp::PromptFormat::Chat) {
                pieces_ = sp::chatPromptPieces(files);
                note = toQ(pieces_.note);
            } else {
                if (session_->tokenizer())
                    pieces_.pre = leadingSpecialText(*session_->tokenizer());
                pieces_.noContextPre = pieces_.pre;
                if (session_->promptFormat() == sp::PromptFormat::Auto && !files.hasTemplate())
                    note = tr("This model has no chat template, so the context and the queries go in as plain "
                              "text: write any turn markers into the queries yourself.");
            }
        } catch (const std::exception& error) {
            pieces_ = sp::PromptPieces();
            note = tr("The chat format is not available: %1").arg(errorText(error));
        }
    }
    boxes_[0]->setText(visibleMarker(pieces_.pre));
    boxes_[2]->setText(visibleMarker(pieces_.mid));
    boxes_[4]->setText(visibleMarker(pieces_.post));
    noContext_->setText(tr("Without a context (the no-context baseline): <tt>%1</tt><i>query</i><tt>%2</tt>")
                            .arg(visibleMarker(pieces_.noContextPre), visibleMarker(pieces_.post)));
    note_->setText(note);
    note_->setVisible(!note.isEmpty());
}

} // namespace spui
