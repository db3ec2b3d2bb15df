#pragma once
// The prompt layout of the Context tab: how the context c and a query z sit in the model's prompt,
//
//     [pre][context → σ][mid][query][post]
//
// with the markers the chosen format renders (the model's chat template, or plain text), the
// format chooser, and what "no context" renders to. Torch-free: the pieces come from
// softprompt/prompt_format.h.
#include "softprompt/prompt_format.h"

#include <QWidget>

class QComboBox;
class QLabel;

namespace spui {

class Session;

class PromptLayoutStrip : public QWidget {
    Q_OBJECT
public:
    explicit PromptLayoutStrip(Session* session, QWidget* parent = nullptr);

    // The pieces shown (format Plain with empty pieces before a model is loaded).
    const sp::PromptPieces& pieces() const { return pieces_; }
    // The sentence under the strip: a template's note, or why the chat format is unavailable.
    QString noteText() const;
    QComboBox* formatChooser() const { return chooser_; }
    // A marker as the strip shows it: newlines as ↵, an empty piece as ∅.
    static QString visibleMarker(const std::string& text);

private:
    void refresh();

    Session* session_ = nullptr;
    QComboBox* chooser_ = nullptr;
    QLabel* boxes_[5] = {};
    QLabel* noContext_ = nullptr;
    QLabel* note_ = nullptr;
    sp::PromptPieces pieces_;
};

} // namespace spui
