// The evaluator: every query under every condition (full context, σ, no context, first/last k
// tokens, a surprisal-pruned hard prompt), scored against the full-context teacher, with 95%
// bootstrap intervals over queries.
#include "engine/statistics.h"
#include "engine/task.h"

#include "softprompt/error.h"

#include <algorithm>
#include <numeric>

namespace sp {

namespace {

constexpr std::int64_t kEvalChunk = 16;
constexpr std::int64_t kShownTopTokens = 10;

// The prefix each condition puts before the query, as a KV cache (B = 1).
engine::PrefixState conditionPrefix(const CompressionTask::Impl& task, Condition condition,
                                    const at::Tensor& sigma, int k, const engine::ContextState& context)
{
    // Every condition keeps the layout: pre ⊕ (what stands for the context) ⊕ mid, except "no
    // context", which is what the format renders without one (the template with no system message).
    const model::CausalLM& lm = *task.model.lm;
    switch (condition) {
    case Condition::FullContext:
        return context.prefix;
    case Condition::SoftPrompt:
        return engine::prefixFromEmbeddings(lm, task.aroundContext(sigma).unsqueeze(0));
    case Condition::NoContext:
        return engine::prefixFromEmbeddings(lm, task.embedIds(task.noContextIds).unsqueeze(0));
    case Condition::FirstK:
    case Condition::LastK:
    case Condition::PrunedHardPrompt:
        return engine::prefixFromEmbeddings(
            lm, task.aroundContext(task.embedIds(task.keptContextIds(condition, k, context.surprisal))).unsqueeze(0));
    }
    throw Error("unknown condition");
}

ConditionAggregate aggregate(Condition condition, const std::vector<const ConditionOutcome*>& outcomes,
                             std::uint64_t seed)
{
    std::vector<double> s, kl, top1, exact;
    for (const ConditionOutcome* outcome : outcomes) {
        s.push_back(outcome->s);
        kl.push_back(outcome->kl);
        top1.push_back(outcome->top1Agrees ? 1.0 : 0.0);
        exact.push_back(outcome->exactMatch ? 1.0 : 0.0);
    }
    ConditionAggregate result;
    result.condition = condition;
    // One seed for every metric: the same resamples, so identical values get identical intervals.
    result.s = engine::bootstrapMean(s, seed);
    result.kl = engine::bootstrapMean(kl, seed);
    result.top1Agreement = engine::bootstrapMean(top1, seed);
    result.exactMatch = engine::bootstrapMean(exact, seed);
    return result;
}

std::vector<double> rowValues(const at::Tensor& row, std::int64_t count)
{
    const at::Tensor host = row.narrow(0, 0, count).to(at::kCPU, at::kDouble).contiguous(); // [count]
    return std::vector<double>(host.data_ptr<double>(), host.data_ptr<double>() + count);
}

} // namespace

Evaluation CompressionTask::Impl::evaluate(const SoftPrompt* sigmaPrompt, const TrainConfig& config,
                                           const std::vector<Condition>& conditions)
{
    validateInputs(config);
    const model::CausalLM& lm = *model.lm;
    at::NoGradGuard noGrad;
    at::Tensor sigma; // [k, d] fp32
    if (sigmaPrompt) {
        sigma = engine::tensorFromSoftPrompt(*sigmaPrompt, lm.device());
        if (sigma.size(1) != lm.config().hiddenSize)
            throw Error("σ has width " + std::to_string(sigma.size(1)) + " but the model's hidden size is " +
                        std::to_string(lm.config().hiddenSize) + "; it was trained for another model");
    }
    const int k = sigmaPrompt ? sigmaPrompt->k : config.k;

    const auto context = contextState();
    const auto records = teacher(config, nullptr);
    std::vector<int> all(queries.size());
    std::iota(all.begin(), all.end(), 0);
    const engine::QuerySet set = engine::buildQuerySet(model, all, queryIds, records, config.target);
    const std::vector<bool> heldout = heldoutMask(config);

    Evaluation evaluation;
    for (std::size_t i = 0; i < queries.size(); ++i) {
        QueryEvaluation entry;
        entry.query = queries[i].text;
        entry.target = queries[i].target;
        entry.heldOut = heldout[i];
        evaluation.queries.push_back(std::move(entry));
    }

    for (Condition condition : conditions) {
        if (condition == Condition::SoftPrompt && !sigma.defined())
            throw Error("evaluating the σ condition needs a trained σ");
        const engine::PrefixState prefix = conditionPrefix(*this, condition, sigma, k, *context);
        for (std::int64_t start = 0; start < set.size(); start += kEvalChunk) {
            std::vector<std::int64_t> rows;
            std::vector<std::vector<std::int32_t>> queryRows;
            for (std::int64_t row = start; row < std::min(set.size(), start + kEvalChunk); ++row) {
                rows.push_back(row);
                queryRows.push_back(queryIds[std::size_t(row)]);
            }
            const engine::QuerySet chunk = engine::selectRows(set, rows);
            const at::Tensor logits = engine::targetLogitsAfterPrefix(lm, prefix, chunk.embeds, chunk.lengths,
                                                                      chunk.targetIndex); // [b, L, V]
            const engine::TeacherTargets& teacherTargets = chunk.teacher;
            // Rounding leaves the full context's divergence from itself a few ulps either side of 0;
            // shown as -3e-9 it reads as a bug, so values keep to the range the measure has.
            at::Tensor sPerPosition = engine::objectivePerPosition(config.objective, logits, teacherTargets,
                                                                   config.temperature); // [b, L]
            sPerPosition = objectiveInfo(config.objective).higherIsBetter ? sPerPosition.clamp_max(1.0)
                                                                          : sPerPosition.clamp_min(0.0);
            const at::Tensor s = engine::meanOverPositions(sPerPosition, teacherTargets.mask); // [b]
            const at::Tensor klPerPosition =
                engine::forwardKlAt1(logits, teacherTargets).clamp_min(0.0);                     // [b, L]
            const at::Tensor kl = engine::meanOverPositions(klPerPosition, teacherTargets.mask); // [b]
            const at::Tensor nll = engine::meanOverPositions(engine::teacherTokenNll(logits, teacherTargets),
                                                             teacherTargets.mask);                // [b]
            const at::Tensor agrees = engine::top1Agreement(logits, teacherTargets).select(1, 0); // [b]
            const at::Tensor firstProbs = at::softmax(logits.select(1, 0), -1);                   // [b, V]
            const auto top =
                firstProbs.topk(std::min<std::int64_t>(kShownTopTokens, firstProbs.size(-1)), -1);
            const at::Tensor topProbs = std::get<0>(top).to(at::kCPU, at::kDouble).contiguous(); // [b, n]
            const at::Tensor topIds = std::get<1>(top).to(at::kCPU).contiguous();                // [b, n]
            const at::Tensor summary = at::stack({s, kl, nll, agrees.to(s.scalar_type())}, 1)
                                           .to(at::kCPU, at::kDouble)
                                           .contiguous(); // [b, 4]
            const engine::GreedyResult greedy =
                engine::greedyAfterPrefix(lm, prefix, queryRows, config.continuationLength, model.stopIds);

            for (std::size_t r = 0; r < rows.size(); ++r) {
                const auto row = std::int64_t(r);
                const std::size_t query = std::size_t(rows[r]);
                const engine::TeacherRecord& record = *records[query];
                ConditionOutcome outcome;
                outcome.condition = condition;
                outcome.predictionIds = greedy.tokens[r];
                outcome.prediction = model.decode(outcome.predictionIds);
                const double* values = summary[row].data_ptr<double>();
                outcome.s = values[0];
                outcome.kl = values[1];
                outcome.teacherNll = values[2];
                outcome.top1Agrees = values[3] > 0.5;
                outcome.exactMatch = outcome.predictionIds == record.continuation;
                for (std::int64_t j = 0; j < topIds.size(1); ++j) {
                    TokenProbability token;
                    token.id = std::int32_t(topIds[row][j].item<std::int64_t>());
                    token.text = model.piece(token.id);
                    token.probability = topProbs[row][j].item<double>();
                    outcome.topK.push_back(std::move(token));
                }
                if (config.target == TargetKind::Continuation)
                    outcome.perTokenDivergence = rowValues(klPerPosition[row], chunk.targetCounts[r]);
                evaluation.queries[query].outcomes.push_back(std::move(outcome));
            }
        }
    }

    // Each condition's bootstrap seed depends on the condition, not on its place in `conditions`: σ
    // evaluated alone gets the interval it gets among every condition (the training session merges
    // σ into the baselines evaluated before training).
    for (std::size_t c = 0; c < conditions.size(); ++c) {
        const std::uint64_t conditionSeed = std::uint64_t(conditions[c]);
        std::vector<const ConditionOutcome*> heldoutOutcomes, trainOutcomes;
        for (std::size_t i = 0; i < evaluation.queries.size(); ++i)
            (heldout[i] ? heldoutOutcomes : trainOutcomes).push_back(&evaluation.queries[i].outcomes[c]);
        if (!heldoutOutcomes.empty())
            evaluation.heldout.push_back(aggregate(conditions[c], heldoutOutcomes, config.seed * 31 + conditionSeed));
        if (!trainOutcomes.empty())
            evaluation.train.push_back(aggregate(conditions[c], trainOutcomes, config.seed * 37 + conditionSeed));
    }
    return evaluation;
}

std::vector<SweepPoint> runCompressionSweep(CompressionTask& task, const TrainConfig& base,
                                            const std::vector<int>& ks, const TrainCallbacks& callbacks,
                                            TrainControl& control)
{
    if (ks.empty())
        throw Error("the sweep needs at least one k");
    for (int k : ks) {
        TrainConfig config = base;
        config.k = k;
        task.validate(config); // every k is checked before the first one trains
    }
    std::vector<SweepPoint> points;
    for (int k : ks) {
        if (control.cancel.load())
            break;
        TrainConfig config = base;
        config.k = k;
        SweepPoint point;
        point.k = k;
        point.compressionRatio = double(task.contextTokenCount()) / double(k);
        point.result = task.train(config, callbacks, control);
        if (point.result.status != RunStatus::Failed) {
            const Evaluation evaluation = task.evaluate(point.result.sigma, config, {Condition::SoftPrompt});
            const auto& aggregates = evaluation.heldout.empty() ? evaluation.train : evaluation.heldout;
            if (!aggregates.empty())
                point.heldoutSigma = aggregates.front();
        }
        points.push_back(std::move(point));
        if (points.back().result.status == RunStatus::Cancelled)
            break;
    }
    return points;
}

} // namespace sp
