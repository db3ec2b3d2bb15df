#pragma once
// The slow work of the Playground tab, the coverage map and Compare's on-demand evaluation, on a
// thread of its own (TrainingWorker keeps training): answers generated token by token under the
// full context, σ and no context; the coverage map; new queries evaluated with a stored run's σ.
//
// Jobs are queued with QMetaObject::invokeMethod. Cancelling is a plain, thread-safe call from the
// GUI thread (an atomic), never a queued slot, which would wait behind the job it should stop.
#include "TrainingWorker.h" // sp::Evaluation's metatype
#include "softprompt/coverage.h"
#include "softprompt/engine.h"
#include "softprompt/playground.h"

#include <QMetaType>
#include <QObject>
#include <QString>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace spui {

struct PlaygroundRequest {
    int id = 0;
    sp::ModelHandle model;
    std::string context;
    QString databasePath;
    qint64 runId = 0;    // σ of this stored run (0: none, or sigmaFile)
    QString sigmaFile;   // or σ from a safetensors file
    std::vector<sp::Condition> conditions;
    std::map<sp::Condition, std::vector<sp::ConversationTurn>> history; // each condition its own
    std::string question; // as sent to the model (the query format applied in the plain layout)
    sp::PromptFormat format = sp::PromptFormat::Plain; // the layout: the run's, or the session's
    sp::SamplingSettings settings;
};

struct PlaygroundReply {
    int requestId = 0;
    sp::Generation generation;
    // The same answer read under every condition (teacher forcing): what each would have said at
    // each of its tokens. Keyed by condition; includes the generating condition itself.
    std::map<sp::Condition, std::vector<sp::GeneratedToken>> readUnder;
};

struct CoverageRequest {
    int id = 0;
    sp::ModelHandle model;
    std::string context;
    std::vector<sp::Query> queries;
    sp::TrainConfig config;
    sp::SoftPrompt sigma; // empty: influence only
    qint64 runId = 0;     // where σ came from, for the labels
    sp::CoverageOptions options;
};

struct QueryEvaluationRequest {
    sp::ModelHandle model;
    QString databasePath;
    qint64 runId = 0;
    std::string context;
    std::vector<sp::Query> queries; // the queries the run has not seen
    sp::TrainConfig config;
    sp::SoftPrompt sigma;
};

class PlaygroundWorker : public QObject {
    Q_OBJECT
public:
    explicit PlaygroundWorker(QObject* parent = nullptr);
    ~PlaygroundWorker() override;

    // Thread-safe: stops every request with an id up to `requestId` before its next token.
    void cancelUpTo(int requestId) { cancelledUpTo_.store(requestId); }
    void cancelCoverage() { cancelCoverage_.store(true); }

    // Jobs: run on the worker's thread.
    void generate(const spui::PlaygroundRequest& request);
    void computeCoverage(const spui::CoverageRequest& request);
    void evaluateQueries(const spui::QueryEvaluationRequest& request);

signals:
    void tokenGenerated(int requestId, int condition, const sp::GeneratedToken& token);
    void replyFinished(const spui::PlaygroundReply& reply);
    void conditionFailed(int requestId, int condition, const QString& message);
    void requestFinished(int requestId);

    void coverageProgress(int requestId, double fraction);
    void coverageReady(int requestId, const sp::CoverageMap& map, qint64 runId);
    void coverageFailed(int requestId, const QString& message);

    void queriesEvaluated(qint64 runId, const sp::Evaluation& evaluation, const QString& storeWarning);
    void queryEvaluationFailed(qint64 runId, const QString& message);

private:
    // The playground for this model and context, with the request's σ set (kept between requests,
    // so the context's KV cache is computed once).
    const sp::Playground& playgroundFor(const PlaygroundRequest& request);

    std::atomic<int> cancelledUpTo_{0};
    std::atomic<bool> cancelCoverage_{false};
    std::unique_ptr<sp::Playground> playground_;
    std::string playgroundKey_;
    std::string sigmaKey_;
};

} // namespace spui

Q_DECLARE_METATYPE(spui::PlaygroundRequest)
Q_DECLARE_METATYPE(spui::PlaygroundReply)
Q_DECLARE_METATYPE(spui::CoverageRequest)
Q_DECLARE_METATYPE(spui::QueryEvaluationRequest)
Q_DECLARE_METATYPE(sp::GeneratedToken)
Q_DECLARE_METATYPE(sp::CoverageMap)
