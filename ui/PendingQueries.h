#pragma once
// Compare's bar for queries added after σ was trained (typed in the Playground, imported, pasted):
// "3 queries added to the set after run 12 was trained: not in this table. [Evaluate them with
// this σ]". The evaluation runs on a worker thread, is added to the run in the database and shows in
// the Compare table.
#include "softprompt/engine.h"

#include <QFrame>

#include <vector>

class QLabel;
class QPushButton;
class QThread;

namespace spui {

class PlaygroundWorker;
class Session;

class PendingQueriesBar : public QFrame {
    Q_OBJECT
public:
    explicit PendingQueriesBar(Session* session, QWidget* parent = nullptr);
    ~PendingQueriesBar() override;

    // The session's queries that the shown run's evaluation does not have yet.
    std::vector<sp::Query> pendingQueries() const;
    // Evaluates them with the shown run's σ. False with the reason when it cannot start.
    bool evaluate(QString* whyNot = nullptr);
    bool isEvaluating() const { return evaluating_; }

signals:
    void evaluated(int count);
    void evaluationFailed(const QString& message);

private:
    void updateBar();

    Session* session_ = nullptr;
    QThread* thread_ = nullptr;
    PlaygroundWorker* worker_ = nullptr;
    QLabel* text_ = nullptr;
    QPushButton* button_ = nullptr;
    bool evaluating_ = false;
};

} // namespace spui
