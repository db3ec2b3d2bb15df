#include "TrainingWorker.h"

#include "QtConvert.h"
#include "softprompt/error.h"
#include "softprompt/run_recording.h"

#include <QFileInfo>

#include <algorithm>
#include <chrono>
#include <memory>

namespace spui {
namespace {

QString describe(const std::exception& error)
{
    return QString::fromStdString(error.what()).trimmed();
}

// Adds σ's outcomes and aggregates to the baseline evaluation of the same queries. False when the
// two do not line up query by query (then the caller evaluates everything at once).
bool mergeEvaluations(const sp::Evaluation& baselines, const sp::Evaluation& sigma, sp::Evaluation* merged)
{
    if (baselines.queries.size() != sigma.queries.size())
        return false;
    *merged = baselines;
    auto order = [](const sp::ConditionOutcome& a, const sp::ConditionOutcome& b) {
        return int(a.condition) < int(b.condition);
    };
    for (size_t i = 0; i < sigma.queries.size(); ++i) {
        sp::QueryEvaluation& query = merged->queries[i];
        if (query.query != sigma.queries[i].query || query.heldOut != sigma.queries[i].heldOut)
            return false;
        for (const sp::ConditionOutcome& outcome : sigma.queries[i].outcomes)
            if (outcome.condition == sp::Condition::SoftPrompt)
                query.outcomes.push_back(outcome);
        std::stable_sort(query.outcomes.begin(), query.outcomes.end(), order);
    }
    auto addAggregates = [](std::vector<sp::ConditionAggregate>& into,
                            const std::vector<sp::ConditionAggregate>& from) {
        for (const sp::ConditionAggregate& aggregate : from)
            if (aggregate.condition == sp::Condition::SoftPrompt)
                into.push_back(aggregate);
        std::stable_sort(into.begin(), into.end(),
                         [](const auto& a, const auto& b) { return int(a.condition) < int(b.condition); });
    };
    addAggregates(merged->heldout, sigma.heldout);
    addAggregates(merged->train, sigma.train);
    return true;
}

} // namespace

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
    abandon_.store(false);
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
                                 .arg(toQ(options.device), describe(cudaError));
        }
        emit modelLoaded(loaded);
    } catch (const std::exception& error) {
        emit modelLoadFailed(source, describe(error));
    }
}

void TrainingWorker::fillTargets(const sp::ModelHandle& model, const std::string& context,
                                 const std::vector<sp::Query>& queries, int maxNewTokens)
{
    try {
        sp::CompressionTask task(model, context, queries);
        emit targetsReady(task.teacherContinuations(maxNewTokens));
    } catch (const std::exception& error) {
        emit targetsFailed(describe(error));
    }
}

void TrainingWorker::train(const TrainingJob& job)
{
    TrainingOutcome failure;
    failure.config = job.config;
    std::unique_ptr<sp::CompressionTask> task;
    try {
        task = std::make_unique<sp::CompressionTask>(job.model, job.context, job.queries);
        sp::TrainConfig first = job.config;
        if (!job.sweepKs.empty())
            first.k = *std::max_element(job.sweepKs.begin(), job.sweepKs.end());
        task->validate(first);
    } catch (const std::exception& error) {
        failure.status = sp::RunStatus::Failed;
        failure.message = describe(error);
        emit trainingFinished(failure);
        return;
    }

    // The store is where results live, but a store that cannot be opened (locked by another
    // program, read-only, from a newer version) must not stop the user from training.
    std::unique_ptr<sp::RunStore> store;
    QString storeWarning;
    sp::StoredInputs inputs;
    std::int64_t sweepId = 0;
    try {
        store = std::make_unique<sp::RunStore>(sp::RunStore::open(toStd(job.databasePath)));
        inputs = sp::storeTaskInputs(*store, *task, job.config, toStd(job.runName));
        if (!job.sweepKs.empty())
            sweepId = store->createSweep(toStd(job.runName), job.config.toJson(), inputs.contextId);
    } catch (const std::exception& error) {
        store.reset();
        storeWarning = tr("This run is not saved: the run database %1 could not be used (%2).")
                           .arg(job.databasePath, describe(error));
    }

    const std::vector<int> ks = job.sweepKs.empty() ? std::vector<int>{job.config.k} : job.sweepKs;
    TrainingOutcome outcome;
    for (size_t i = 0; i < ks.size(); ++i) {
        outcome = trainOne(*task, job, store.get(), inputs, sweepId, ks[i], int(i));
        outcome.sweepId = sweepId;
        if (outcome.storeWarning.isEmpty())
            outcome.storeWarning = storeWarning;
        if (outcome.status != sp::RunStatus::Finished)
            break; // a cancelled or failed sweep stops at that k
    }
    emit trainingFinished(outcome);
}

TrainingOutcome TrainingWorker::trainOne(sp::CompressionTask& task, const TrainingJob& job,
                                         sp::RunStore* store, const sp::StoredInputs& inputs,
                                         std::int64_t sweepId, int k, int sweepIndex)
{
    TrainingOutcome outcome;
    outcome.config = job.config;
    outcome.config.k = k;
    outcome.contextTokens = task.contextTokenCount();

    std::unique_ptr<sp::RunWriter> writer;
    auto storeFailed = [&](const std::exception& error) {
        if (outcome.storeWarning.isEmpty())
            outcome.storeWarning =
                tr("Part of this run could not be saved to %1: %2").arg(job.databasePath, describe(error));
    };
    if (store) {
        try {
            const std::string name =
                toStd(job.runName) + (job.sweepKs.empty() ? std::string() : ", k=" + std::to_string(k));
            const std::string modelPath = job.modelSource == QLatin1String("demo") ? "demo" : "";
            writer = store->startRun(
                sp::newRunFor(name, outcome.config, job.model.summary(), modelPath, inputs,
                              sweepId > 0 ? std::optional<std::int64_t>(sweepId) : std::nullopt));
            outcome.runId = writer->runId();
        } catch (const std::exception& error) {
            storeFailed(error);
        }
    }
    emit runStarted(outcome.runId, sweepIndex, k);

    double trainSeconds = 0.0;
    try {
        emit phaseChanged(tr("Evaluating the baselines"), 0.0);
        const sp::Evaluation baselines = task.evaluateBaselines(outcome.config);
        emit baselinesReady(baselines);

        sp::TrainCallbacks callbacks;
        callbacks.onPhase = [this](const std::string& phase, double fraction) {
            emit phaseChanged(toQ(phase), fraction);
        };
        callbacks.onStep = [&](const sp::StepReport& report) {
            emit stepReported(report);
            if (!writer)
                return;
            try {
                writer->addMetrics(report.step, sp::stepMetrics(report));
            } catch (const std::exception& error) {
                storeFailed(error);
            }
        };
        callbacks.onCheckpoint = [&](int step, const sp::SoftPrompt& sigma) {
            if (!writer)
                return;
            try {
                writer->checkpoint(step, sigma);
            } catch (const std::exception& error) {
                storeFailed(error);
            }
        };

        const auto trainStart = std::chrono::steady_clock::now();
        outcome.result = task.train(outcome.config, callbacks, control_);
        trainSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - trainStart).count();
        outcome.status = outcome.result.status;
        outcome.message = toQ(outcome.result.error);

        if (!outcome.result.sigma.empty() && outcome.result.stepsCompleted > 0 && !abandon_.load()) {
            emit phaseChanged(tr("Evaluating σ on every query"), 0.0);
            // The baselines do not depend on σ: evaluate only σ and reuse them.
            const sp::Evaluation sigmaOnly =
                task.evaluate(outcome.result.sigma, outcome.config, {sp::Condition::SoftPrompt});
            if (!mergeEvaluations(baselines, sigmaOnly, &outcome.evaluation))
                outcome.evaluation = task.evaluate(outcome.result.sigma, outcome.config);
            emit phaseChanged(tr("Evaluating σ on every query"), 1.0);
        }
    } catch (const std::exception& error) {
        outcome.status = sp::RunStatus::Failed;
        outcome.message = describe(error);
        outcome.result.status = outcome.status; // so the stored summary says so too
        outcome.result.error = toStd(outcome.message);
    }
    if (outcome.status == sp::RunStatus::Cancelled && outcome.message.isEmpty())
        outcome.message =
            tr("Stopped at step %1 of %2.").arg(outcome.result.stepsCompleted).arg(outcome.config.steps);

    if (writer) {
        try {
            if (!outcome.result.sigma.empty() && outcome.result.stepsCompleted > 0)
                writer->checkpoint(outcome.result.stepsCompleted, outcome.result.sigma);
            const bool evaluated = !outcome.evaluation.queries.empty();
            if (evaluated)
                writer->addEvaluations(
                    sp::toStoredEvaluations(outcome.evaluation, outcome.result.stepsCompleted));
            writer->setSummary(sp::runSummary(outcome.config, outcome.result, job.model.summary(),
                                              outcome.contextTokens, trainSeconds,
                                              evaluated ? &outcome.evaluation : nullptr));
            writer->finish(outcome.status, toStd(outcome.message));
        } catch (const std::exception& error) {
            storeFailed(error);
        }
    }
    return outcome;
}

} // namespace spui
