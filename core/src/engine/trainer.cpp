// The trainer: σ̂ = argmin_σ s(ŷ, ŷ_σ) by Adam/AdamW on σ alone, one batched forward and backward
// per step, with the teacher read from its cache. The loop is here; its pieces (batches, the step,
// divergence, early stopping, the report) are in the files trainer_parts.h lists.
#include "engine/task.h"
#include "engine/trainer_parts.h"

#include "softprompt/error.h"

#include <chrono>
#include <cmath>
#include <optional>
#include <thread>

namespace sp {

using engine::QuerySet;

namespace engine {

SetScore scoreSet(const model::CausalLM& lm, const at::Tensor& prefixEmbeds, const QuerySet& set,
                  const TrainConfig& config)
{
    at::NoGradGuard noGrad;
    constexpr std::int64_t kChunk = 64;
    double sSum = 0.0, top1Sum = 0.0;
    for (std::int64_t start = 0; start < set.size(); start += kChunk) {
        std::vector<std::int64_t> rows;
        for (std::int64_t row = start; row < std::min(set.size(), start + kChunk); ++row)
            rows.push_back(row);
        const QuerySet chunk = selectRows(set, rows);
        const at::Tensor logits = studentTargetLogits(lm, prefixEmbeds, chunk.embeds, chunk.lengths,
                                                      chunk.targetIndex); // [b, L, V]
        const at::Tensor s = meanOverPositions(
            objectivePerPosition(config.objective, logits, chunk.teacher, config.temperature),
            chunk.teacher.mask); // [b]
        const at::Tensor top1 =
            meanOverPositions(top1Agreement(logits, chunk.teacher), chunk.teacher.mask);    // [b]
        const at::Tensor sums = at::stack({s.sum(), top1.sum()}).to(at::kCPU, at::kDouble); // [2]
        sSum += sums[0].item<double>();
        top1Sum += sums[1].item<double>();
    }
    const double count = double(std::max<std::int64_t>(set.size(), 1));
    return {sSum / count, top1Sum / count};
}

} // namespace engine

namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point start)
{
    return std::chrono::duration<double>(Clock::now() - start).count();
}

} // namespace

TrainResult CompressionTask::Impl::train(const TrainConfig& config, const TrainCallbacks& callbacks,
                                         TrainControl& control, const SoftPrompt* start)
{
    validate(config);
    const model::CausalLM& lm = *model.lm;
    const auto phase = [&](const std::string& name, double fraction) {
        if (callbacks.onPhase)
            callbacks.onPhase(name, fraction);
    };

    TrainResult result;
    at::Tensor sigma; // [k, d] fp32, the parameter
    if (start) {
        sigma = engine::tensorFromSoftPrompt(*start, lm.device());
        if (sigma.size(0) != config.k || sigma.size(1) != lm.config().hiddenSize)
            throw Error("the starting σ is " + std::to_string(sigma.size(0)) + " × " +
                        std::to_string(sigma.size(1)) + " but this run needs k × d = " +
                        std::to_string(config.k) + " × " + std::to_string(lm.config().hiddenSize));
    } else {
        sigma = initialSigma(config);
    }
    result.sigma = engine::softPromptFromTensor(sigma);

    // The teacher, from the cache when this model, context, query and settings were seen before.
    std::vector<std::shared_ptr<const engine::TeacherRecord>> records;
    try {
        phase("computing the teacher", 0.0);
        records = teacher(config, [&](double fraction) {
            if (control.cancel.load())
                throw Cancelled();
            phase("computing the teacher", fraction);
        });
    } catch (const Cancelled&) {
        result.status = RunStatus::Cancelled;
        return result;
    }

    const std::vector<bool> heldout = heldoutMask(config);
    std::vector<int> trainQueries, heldoutQueries;
    for (std::size_t i = 0; i < queries.size(); ++i)
        (heldout[i] ? heldoutQueries : trainQueries).push_back(int(i));
    if (trainQueries.empty())
        throw Error(
            "every query is held out, so there is nothing to train on; mark fewer queries as held out");
    const QuerySet trainSet = engine::buildQuerySet(model, trainQueries, queryIds, records, config.target);
    const QuerySet heldoutSet =
        heldoutQueries.empty()
            ? QuerySet{}
            : engine::buildQuerySet(model, heldoutQueries, queryIds, records, config.target);
    // The student's shared prefix: pre ⊕ σ ⊕ mid (engine/prompt_layout.h).
    const at::Tensor preEmbeds = embedIds(preIds), midEmbeds = embedIds(midIds);          // [|pre|, d], [|mid|, d]
    const auto prefixWith = [&](const at::Tensor& s) { return at::cat({preEmbeds, s, midEmbeds}, 0); }; // [P, d]

    phase("scoring the initial σ", 0.0);
    result.initialTrainS = engine::scoreSet(lm, prefixWith(sigma), trainSet, config).s;

    optim::AdamSettings adamSettings;
    adamSettings.weightDecay = config.weightDecay;
    adamSettings.decoupled = config.optimizer == "adamw";
    optim::Adam adam({sigma}, adamSettings);
    engine::BatchSampler sampler(trainSet.size(), config.batchSize, config.seed ^ 0xBA7C4ULL);
    engine::EarlyStopping earlyStopping(config);
    at::Tensor lastGood = sigma.clone(); // [k, d]: the latest σ whose loss was finite
    const bool restoreBest = config.earlyStopPatience > 0 && heldoutSet.size() > 0;
    double trainSeconds = 0.0;

    result.status = RunStatus::Finished;
    try {
        for (int step = 1; step <= config.steps; ++step) {
            while (control.pause.load() && !control.cancel.load())
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
            if (control.cancel.load()) {
                result.status = RunStatus::Cancelled;
                break;
            }
            const Clock::time_point stepStart = Clock::now();
            const QuerySet batch = engine::selectRows(trainSet, sampler.next());
            const at::Tensor before = sigma.clone(); // [k, d]
            const engine::StepStats stats =
                engine::trainStep(lm, preEmbeds, midEmbeds, sigma, adam, batch, config, step);
            if (std::optional<std::string> diverged =
                    engine::handleDivergence(stats, step, config, sigma, before, lastGood)) {
                result.status = RunStatus::Failed;
                result.badStep = step;
                result.error = std::move(*diverged);
                break;
            }
            lastGood = before;
            result.stepsCompleted = step;

            const bool evaluate = heldoutSet.size() > 0 && config.evalInterval > 0 &&
                                  (step % config.evalInterval == 0 || step == config.steps);
            std::optional<engine::SetScore> heldoutScore;
            bool stopEarly = false;
            if (evaluate) {
                heldoutScore = engine::scoreSet(lm, prefixWith(sigma), heldoutSet, config);
                stopEarly = earlyStopping.record(heldoutScore->s, sigma);
            }
            const double stepSeconds = secondsSince(stepStart);
            trainSeconds += stepSeconds;
            const std::int64_t tokens =
                batch.tokens + batch.size() * (preEmbeds.size(0) + midEmbeds.size(0)) + batch.size() * config.k;
            StepReport report = engine::stepReport(step, config, stats, stepSeconds, trainSeconds, tokens);
            if (heldoutScore) {
                report.hasHeldout = true;
                report.heldoutS = heldoutScore->s;
                report.heldoutTop1 = heldoutScore->top1;
            }
            if (callbacks.onStep)
                callbacks.onStep(report);
            if (callbacks.onCheckpoint && config.checkpointInterval > 0 &&
                step % config.checkpointInterval == 0)
                callbacks.onCheckpoint(step, engine::softPromptFromTensor(sigma));
            if (stopEarly)
                break;
        }
    } catch (const Cancelled&) { // a callback asked to stop
        result.status = RunStatus::Cancelled;
    }

    const at::Tensor& best = earlyStopping.best();
    if (restoreBest && best.defined() && result.status != RunStatus::Failed)
        sigma = best;
    result.sigma = engine::softPromptFromTensor(sigma);
    if (result.status != RunStatus::Failed) {
        phase("scoring the final σ", 0.0);
        result.finalTrainS = engine::scoreSet(lm, prefixWith(sigma), trainSet, config).s;
        if (!std::isfinite(result.finalTrainS)) {
            result.status = RunStatus::Failed;
            result.badStep = result.stepsCompleted;
            result.error = "the final σ gives a non-finite s; kept the last σ whose s was finite. Lower the "
                           "learning rate";
            result.sigma = engine::softPromptFromTensor(lastGood);
        }
    } else {
        result.finalTrainS = engine::scoreSet(lm, prefixWith(sigma), trainSet, config).s;
    }
    return result;
}

} // namespace sp
