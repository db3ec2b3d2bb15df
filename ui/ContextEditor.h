#pragma once
// The long context c: paste or open it, see how many tokens it is and how much of the model's
// window it fills, be warned (with a choice) when it is too long, and see where the tokens split.
#include "softprompt/tokenizer.h"

#include <QString>
#include <QWidget>

#include <cstdint>
#include <optional>
#include <vector>

class QLabel;
class QPlainTextEdit;
class QProgressBar;
class QTextBrowser;
class QCheckBox;
class QFrame;
class QTimer;

namespace spui {

class PromptLayoutStrip;
class Session;

class ContextEditor : public QWidget {
    Q_OBJECT
public:
    explicit ContextEditor(Session* session, QWidget* parent = nullptr);

    void setText(const QString& text, const QString& name = {});
    QString text() const;
    // The "Context c: <name>" line above the editor.
    QString nameLabelText() const;
    bool openFile(const QString& path, QString* error = nullptr);

    // The counts shown, after the latest re-tokenisation (-1 before any).
    int tokenCount() const { return tokenCount_; }
    int windowTokens() const { return windowTokens_; }
    bool isOverLong() const { return overLong_; }
    QString tokenBoundaryHtml() const;
    PromptLayoutStrip* layoutStrip() const { return layoutStrip_; }
    // Re-tokenises now instead of after the typing pause (tests, and before training starts).
    void recountNow();

    // The tokenizer and window the counts use; the loaded model's, set when it changes (tests set
    // them directly). No tokenizer: only characters are counted.
    void setTokenizer(std::optional<sp::Tokenizer> tokenizer, int windowTokens);

    // Tokens a query and its continuation need next to the context (the warning's threshold).
    void setReservedTokens(int tokens);

    // The over-long choices (the warning's buttons).
    void keepFirstTokens();
    void keepLastTokens();

signals:
    void tokenCountChanged(int tokens);
    void openFileRequested();

private:
    struct Encoded {
        std::vector<std::int32_t> ids;
        QString error;
    };
    static Encoded encodeOrError(const sp::Tokenizer& tokenizer, const std::string& text);
    void scheduleRecount();
    void recount(); // in the background for long texts
    void recount(bool inBackground);
    void applyTokens(int generation, const Encoded& encoded);
    void updateInfo();
    void updateNameLabel();
    void truncateTo(bool keepStart);

    Session* session_ = nullptr;
    PromptLayoutStrip* layoutStrip_ = nullptr; // [pre][context → σ][mid][query][post] and the format chooser
    QPlainTextEdit* editor_ = nullptr;
    QLabel* nameLabel_ = nullptr;
    QLabel* countLabel_ = nullptr;
    QProgressBar* fillBar_ = nullptr;
    QFrame* warning_ = nullptr;
    QLabel* warningText_ = nullptr;
    QCheckBox* boundariesBox_ = nullptr;
    QTextBrowser* boundaries_ = nullptr;
    QTimer* recountTimer_ = nullptr;

    std::optional<sp::Tokenizer> tokenizer_;
    std::vector<std::int32_t> ids_;
    int tokenCount_ = -1;
    int generation_ = 0;
    int windowTokens_ = 0;
    int reservedTokens_ = 16;
    bool overLong_ = false;
    bool warningDismissed_ = false;
};

} // namespace spui
