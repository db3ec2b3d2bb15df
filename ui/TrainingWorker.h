#pragma once
// Everything slow runs here, on one worker thread: loading a model, computing teacher targets, and
// training runs and compression sweeps, which are sp::runTrainingSession (core's one train–evaluate–
// record flow) with its callbacks re-emitted as signals.
//
// The worker lives in its own QThread. Jobs are queued to it with QMetaObject::invokeMethod; the
// core callbacks it receives on that thread are re-emitted as signals, which reach the widgets
// through queued connections. Cancel and pause are atomic flags in sp::TrainControl that the GUI
// thread sets directly (requestCancel/setPaused are plain functions, not slots: a queued slot
// would wait behind the very job it should stop).
#include "softprompt/engine.h"
#include "softprompt/run_store.h"
#include "softprompt/training_session.h"

#include <QMetaType>

#include <QObject>
#include <QString>
#include <atomic>

#include <cstdint>
#include <string>
#include <vector>

namespace spui {

struct TrainingJob {
    sp::ModelHandle model;
    QString modelSource; // "demo" or the folder, as recorded with the run
    std::string context;
    std::vector<sp::Query> queries;
    sp::TrainConfig config;
    QString databasePath;
    QString runName;
    std::vector<int> sweepKs; // non-empty: a compression sweep over these k
    // How c and z go into the prompt; Auto = the model's chat template when it has one.
    sp::PromptFormat format = sp::PromptFormat::Auto;
};

struct TrainingOutcome {
    sp::RunStatus status = sp::RunStatus::Finished;
    std::int64_t runId = 0;
    std::int64_t sweepId = 0;
    sp::TrainResult result;
    sp::Evaluation evaluation;
    sp::TrainConfig config;
    int contextTokens = 0;
    sp::PromptPieces prompt; // the layout the run used: [pre][context → σ][mid][query][post]
    QString message;      // failure or cancellation text for the user
    QString storeWarning; // the run trained but could not be stored: what to do
};

struct LoadedModel {
    sp::ModelHandle model;
    QString source;  // "demo" or the folder
    QString warning; // e.g. "CUDA failed, loaded on the CPU instead: ..."
};

class TrainingWorker : public QObject {
    Q_OBJECT
public:
    explicit TrainingWorker(QObject* parent = nullptr);

    // Thread-safe, called from the GUI thread.
    void requestCancel() { control_.cancel.store(true); }
    // Cancels and skips the final evaluation too (the window is closing).
    void requestAbandon()
    {
        control_.skipEvaluation.store(true);
        control_.cancel.store(true);
    }
    void setPaused(bool paused) { control_.pause.store(paused); }
    bool isPaused() const { return control_.pause.load(); }
    // GUI thread, before queuing a job (never while one runs).
    void resetControl();

    // Jobs: run on the worker thread (queue them with QMetaObject::invokeMethod).
    void loadModel(const QString& source, const sp::ModelLoadOptions& options);
    void train(const TrainingJob& job);
    void fillTargets(const sp::ModelHandle& model, const std::string& context, sp::PromptFormat format,
                     const std::vector<sp::Query>& queries, int maxNewTokens);

signals:
    void modelLoaded(const spui::LoadedModel& loaded);
    void modelLoadFailed(const QString& source, const QString& message);

    void phaseChanged(const QString& phase, double fraction);
    void runStarted(qint64 runId, int sweepIndex, int k);
    void baselinesReady(const sp::Evaluation& baselines);
    void stepReported(const sp::StepReport& report);
    void trainingFinished(const spui::TrainingOutcome& outcome);

    void targetsReady(const std::vector<std::string>& targets);
    void targetsFailed(const QString& message);

private:
    sp::SessionControl control_;
};

} // namespace spui

Q_DECLARE_METATYPE(spui::LoadedModel)
Q_DECLARE_METATYPE(spui::TrainingOutcome)
Q_DECLARE_METATYPE(sp::StepReport)
Q_DECLARE_METATYPE(sp::Evaluation)
Q_DECLARE_METATYPE(std::vector<std::string>)
