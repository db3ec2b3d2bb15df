// The one train–evaluate–record flow; its rules are written down in README.md next to this file.
#include "softprompt/training_session.h"

#include "session/run_recorder.h"
#include "softprompt/error.h"
#include "softprompt/run_recording.h"

#include <chrono>
#include <exception>
#include <optional>

namespace sp {

namespace {

using Clock = std::chrono::steady_clock;

void reportPhase(const TrainingProgress& progress, const std::string& phase, double fraction)
{
    if (progress.onPhase)
        progress.onPhase(phase, fraction);
}

std::string runName(const TrainingPlan& plan, int k)
{
    if (plan.sweepKs.empty())
        return plan.runName;
    const std::string suffix = "k=" + std::to_string(k);
    return plan.runName.empty() ? suffix : plan.runName + ", " + suffix;
}

// Trains σ; evaluates it next to the baselines when at least one step trained (and the front end is
// not closing). Training and evaluation failures become a Failed outcome.
void trainAndEvaluate(CompressionTask& task, RunOutcome& run, const TrainingProgress& progress,
                      SessionControl& control, session::RunRecorder& recorder)
{
    try {
        reportPhase(progress, "evaluating the baselines", 0.0);
        const Evaluation baselines = task.evaluateBaselines(run.config);
        if (progress.onBaselines)
            progress.onBaselines(baselines);

        TrainCallbacks callbacks;
        callbacks.onPhase = progress.onPhase;
        callbacks.onStep = [&](const StepReport& report) {
            if (progress.onStep)
                progress.onStep(report);
            recorder.addMetrics(report.step, stepMetrics(report));
        };
        callbacks.onCheckpoint = [&](int step, const SoftPrompt& sigma) { recorder.checkpoint(step, sigma); };

        const Clock::time_point start = Clock::now();
        run.result = task.train(run.config, callbacks, control);
        run.trainSeconds = std::chrono::duration<double>(Clock::now() - start).count();
        run.status = run.result.status;
        run.message = run.result.error;

        if (run.result.stepsCompleted > 0 && !run.result.sigma.empty() && !control.skipEvaluation.load()) {
            reportPhase(progress, "evaluating σ", 0.0);
            const Evaluation sigmaOnly = task.evaluate(run.result.sigma, run.config, {Condition::SoftPrompt});
            if (!mergeEvaluations(baselines, sigmaOnly, &run.evaluation))
                run.evaluation = task.evaluate(run.result.sigma, run.config);
            run.evaluated = true;
            reportPhase(progress, "evaluating σ", 1.0);
        }
    } catch (const std::exception& failure) {
        run.status = RunStatus::Failed;
        run.message = failure.what();
        if (const auto* error = dynamic_cast<const Error*>(&failure))
            run.remedy = error->remedy();
        run.result.status = RunStatus::Failed; // so the stored summary says so too
        run.result.error = run.message;
        run.evaluated = false;
    }
    if (run.status == RunStatus::Cancelled && run.message.empty())
        run.message = "stopped at step " + std::to_string(run.result.stepsCompleted) + " of " +
                      std::to_string(run.config.steps);
}

RunOutcome trainOneK(CompressionTask& task, const TrainingPlan& plan, int k, int sweepIndex,
                     std::int64_t sweepId, const TrainingProgress& progress, SessionControl& control,
                     session::RunRecorder& recorder)
{
    RunOutcome run;
    run.config = plan.config;
    run.config.k = k;
    run.contextTokens = task.contextTokenCount();
    // The task's overload also records the prompt format and its rendered pieces (run_prompts).
    NewRun newRun = newRunFor(runName(plan, k), run.config, task, plan.modelPath, recorder.inputs(),
                              sweepId > 0 ? std::optional<std::int64_t>(sweepId) : std::nullopt);
    newRun.tags.insert(newRun.tags.end(), plan.tags.begin(), plan.tags.end());
    run.runId = recorder.startRun(newRun);
    if (progress.onRunStarted)
        progress.onRunStarted(run.runId, sweepIndex, k);

    trainAndEvaluate(task, run, progress, control, recorder);

    // A run that trained no step (cancelled or failed while the teacher was computed) stores no σ
    // and no evaluation: only its status, message and summary.
    if (run.result.stepsCompleted > 0 && !run.result.sigma.empty())
        recorder.checkpoint(run.result.stepsCompleted, run.result.sigma);
    if (run.evaluated)
        recorder.addEvaluations(toStoredEvaluations(run.evaluation, run.result.stepsCompleted));
    run.summary = runSummary(run.config, run.result, task.model().summary(), run.contextTokens, run.trainSeconds,
                             run.evaluated ? &run.evaluation : nullptr);
    recorder.setSummary(run.summary);
    recorder.finish(run.status, run.message);
    return run;
}

} // namespace

RunStatus SessionOutcome::status() const
{
    return runs.empty() ? RunStatus::Finished : runs.back().status;
}

SessionOutcome runTrainingSession(CompressionTask& task, const TrainingPlan& plan,
                                  const TrainingProgress& progress, SessionControl& control)
{
    const std::vector<int> ks = plan.sweepKs.empty() ? std::vector<int>{plan.config.k} : plan.sweepKs;
    for (int k : ks) { // every k before the first one trains
        TrainConfig config = plan.config;
        config.k = k;
        task.validate(config);
    }

    SessionOutcome outcome;
    session::RunRecorder recorder(plan.databasePath);
    recorder.storeInputs(task, plan.config, plan.querySetName);
    if (!plan.sweepKs.empty() || !plan.sweepUuid.empty())
        outcome.sweepId = recorder.createSweep(plan.sweepName, plan.config, plan.sweepUuid);
    for (std::size_t i = 0; i < ks.size(); ++i) {
        outcome.runs.push_back(trainOneK(task, plan, ks[i], int(i), outcome.sweepId, progress, control, recorder));
        if (outcome.runs.back().status != RunStatus::Finished)
            break; // a sweep stops at the first k that is cancelled or fails
    }
    outcome.storeError = recorder.error();
    return outcome;
}

} // namespace sp
