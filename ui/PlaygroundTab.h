#pragma once
// The Playground tab: type any question and see the full context, σ (from a stored run or a σ
// file) and no context answer it side by side, token by token as they are generated, greedy or
// sampled. Hovering a token shows the top-k probabilities every condition gives at that point of
// the answer. The conversation continues, σ staying where the context would be; one click adds
// the question to the query set.
#include "softprompt/playground.h"

#include <QString>
#include <QWidget>

#include <map>
#include <vector>

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QPushButton;
class QSpinBox;
class QTextBrowser;
class QThread;

namespace spui {

class PlaygroundWorker;
struct PlaygroundReply;
class Session;

class PlaygroundTab : public QWidget {
    Q_OBJECT
public:
    explicit PlaygroundTab(Session* session, QWidget* parent = nullptr);
    ~PlaygroundTab() override; // stops the generation and joins the worker thread

    PlaygroundWorker* worker() const { return worker_; }

    void setQuestion(const QString& question);
    QString question() const;
    // The question as the model reads it: the query format applied ("User: {q}\nAssistant:").
    QString formattedQuestion() const;
    // The layout questions are asked in: the chosen run's (as it was trained), else the session's.
    // In the chat format the template adds the turn markers, so the question format is not applied.
    sp::PromptFormat promptFormat() const;
    bool chatLayout() const;
    void setQueryFormat(const QString& format); // "\n" may be typed as the two characters \n
    // What the Ask button does. False, with the reason, when nothing can be asked now.
    bool ask(QString* whyNot = nullptr);
    void stop();
    void newConversation();
    // Adds the formatted question to the query set (held out: σ never trained on it). False when
    // the question is empty or already in the set.
    bool addQuestionToQueries(QString* whyNot = nullptr);

    // σ's source: a stored run of the loaded model (the runs are re-read from the database).
    void refreshRuns();
    bool selectRun(qint64 runId);
    qint64 selectedRun() const;
    void setSigmaFile(const QString& path);

    sp::SamplingSettings sampling() const;
    void setSampling(const sp::SamplingSettings& settings);

    bool isGenerating() const { return activeRequest_ != 0; }
    int turnCount(sp::Condition condition) const;
    QString replyText(sp::Condition condition, int turn = -1) const; // -1: the latest turn
    QString errorText(sp::Condition condition) const;
    // The hover text of token `token` of turn `turn` in the condition's column (HTML).
    QString tokenTooltip(sp::Condition condition, int turn, int token) const;
    QTextBrowser* conversationView(sp::Condition condition) const;
    // Shows the comparison of a token below the columns (hovering does it too, and keeps it there).
    void showTokenDetail(sp::Condition condition, int turn, int token);

signals:
    void generationFinished();
    void queryAdded(const QString& query);

private:
    struct Turn {
        QString question; // as sent
        std::vector<sp::GeneratedToken> tokens;
        std::map<sp::Condition, std::vector<sp::GeneratedToken>> readUnder;
        bool done = false;
        bool cancelled = false;
    };
    struct Column {
        sp::Condition condition;
        QLabel* header = nullptr;
        QTextBrowser* view = nullptr;
        std::vector<Turn> turns;
        QString error;
    };

    Column* column(sp::Condition condition);
    const Column* column(sp::Condition condition) const;
    void render(Column& column);
    void updateHeaders();
    void updateButtons();
    void onToken(int requestId, int condition, const sp::GeneratedToken& token);
    void onReply(const PlaygroundReply& reply);
    void onFailed(int requestId, int condition, const QString& message);
    void onFinished(int requestId);
    void onRunChosen(int index);
    QString sigmaLabel() const;

    Session* session_ = nullptr;
    QThread* thread_ = nullptr;
    PlaygroundWorker* worker_ = nullptr;
    std::vector<Column> columns_;

    QComboBox* runBox_ = nullptr;
    QLineEdit* format_ = nullptr;
    QComboBox* decoding_ = nullptr;
    QDoubleSpinBox* temperature_ = nullptr;
    QDoubleSpinBox* topP_ = nullptr;
    QSpinBox* seed_ = nullptr;
    QSpinBox* maxNew_ = nullptr;
    QSpinBox* topK_ = nullptr;
    QPlainTextEdit* question_ = nullptr;
    QPushButton* askButton_ = nullptr;
    QPushButton* stopButton_ = nullptr;
    QPushButton* newButton_ = nullptr;
    QPushButton* addButton_ = nullptr;
    QLabel* status_ = nullptr;
    QLabel* detail_ = nullptr;

    QString sigmaFile_;
    int lastRequest_ = 0;
    int activeRequest_ = 0;
    bool refreshingRuns_ = false;
};

} // namespace spui
