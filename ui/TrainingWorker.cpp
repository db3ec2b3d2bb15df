#include "TrainingWorker.h"

#include "QtConvert.h"
#include "softprompt/error.h"
#include "softprompt/training_session.h"

#include <QFileInfo>


namespace spui {

TrainingWorker::TrainingWorker(QObject* parent) : QObject(parent)
{
    qRegisterMetaType<spui::LoadedModel>();
    qRegisterMetaType<spui::TrainingOutcome>();
    qRegisterMetaType<sp::StepReport>();
    qRegisterMetaType<sp::Evaluation>();
    qRegisterMetaType<std::vector<std::string>>();
}

void TrainingWorker::resetControl()
{
    control_.cancel.store(false);
    control_.pause.store(false);
    control_.skipEvaluation.store(false);
}

void TrainingWorker::loadModel(const QString& source, const sp::ModelLoadOptions& options)
{
    LoadedModel loaded;
    loaded.source = source;
    try {
        try {
            loaded.model = sp::ModelHandle::load(toStd(source), options);
        } catch (const std::exception& cudaError) {
            if (options.device == "cpu")
                throw;
            // The GPU was chosen but is not usable (no driver, out of memory, a half type on a
            // CPU build): the model still works on the CPU, and the user is told why.
            sp::ModelLoadOptions cpu = options;
            cpu.device = "cpu";
            cpu.dtype = "float32";
            loaded.model = sp::ModelHandle::load(toStd(source), cpu);
            loaded.warning = tr("%1 could not be used, so the model runs on the CPU in float32 instead. "
                                "Reason: %2")
                                 .arg(toQ(options.device), toQ(cudaError.what()).trimmed());
        }
        emit modelLoaded(loaded);
    } catch (const std::exception& error) {
        emit modelLoadFailed(source, errorText(error));
    }
}

void TrainingWorker::fillTargets(const sp::ModelHandle& model, const std::string& context, sp::PromptFormat format,
                                 const std::vector<sp::Query>& queries, int maxNewTokens)
{
    try {
        sp::CompressionTask task(model, context, queries, format);
        emit targetsReady(task.teacherContinuations(maxNewTokens));
    } catch (const std::exception& error) {
        emit targetsFailed(errorText(error));
    }
}

void TrainingWorker::train(const TrainingJob& job)
{
    TrainingOutcome outcome;
    outcome.config = job.config;
    try {
        sp::CompressionTask task(job.model, job.context, job.queries, job.format);
        outcome.prompt = task.promptPieces();
        sp::TrainingPlan plan;
        plan.config = job.config;
        plan.sweepKs = job.sweepKs;
        plan.databasePath = toStd(job.databasePath);
        plan.runName = toStd(job.runName);
        plan.sweepName = plan.runName;
        plan.querySetName = plan.runName;
        plan.modelPath = job.modelSource == QLatin1String("demo") ? "demo" : "";

        sp::TrainingProgress progress;
        progress.onPhase = [this](const std::string& phase, double fraction) {
            emit phaseChanged(toQ(phase), fraction);
        };
        progress.onRunStarted = [this](std::int64_t runId, int sweepIndex, int k) {
            emit runStarted(runId, sweepIndex, k);
        };
        progress.onBaselines = [this](const sp::Evaluation& baselines) { emit baselinesReady(baselines); };
        progress.onStep = [this](const sp::StepReport& report) { emit stepReported(report); };

        const sp::SessionOutcome session = sp::runTrainingSession(task, plan, progress, control_);
        outcome.sweepId = session.sweepId;
        outcome.storeWarning = toQ(session.storeError);
        if (job.databasePath.isEmpty())
            outcome.storeWarning = tr("This run is not saved: there is no writable data folder for the run "
                                      "database. Set XDG_DATA_HOME to a writable folder and restart.");
        if (!session.runs.empty()) {
            const sp::RunOutcome& run = session.runs.back();
            outcome.status = run.status;
            outcome.runId = run.runId;
            outcome.result = run.result;
            outcome.evaluation = run.evaluation;
            outcome.config = run.config;
            outcome.contextTokens = run.contextTokens;
            outcome.message = errorText(run.message, run.remedy);
        }
    } catch (const std::exception& error) { // invalid settings: nothing was trained or stored
        outcome.status = sp::RunStatus::Failed;
        outcome.message = errorText(error);
    }
    emit trainingFinished(outcome);
}

} // namespace spui
