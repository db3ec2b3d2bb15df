#include "demo/demo_step_loss.h"

#include "model/causal_lm.h"

#include <algorithm>

namespace sp::demo {

namespace {

// Token ids stay on the CPU until embed() moves them, so that its range check needs no device sync.
at::Tensor longTensor(const std::vector<std::int64_t>& values)
{
    return at::tensor(values, at::kLong);
}

at::Tensor backwardPerContext(const model::CausalLM& lm, const std::vector<PreparedContext>& contexts,
                              double contextLossWeight, std::int64_t padId)
{
    const at::Device device = lm.device();
    const double contextCount = double(contexts.size());
    std::vector<at::Tensor> answerLosses;  // each []
    std::vector<at::Tensor> contextLosses; // each []
    for (const PreparedContext& context : contexts) {
        const std::int64_t contextLength = std::int64_t(context.ids.size());
        const std::int64_t scored = std::int64_t(context.scoredPositions.size());

        // The context, with the LM loss on its scored positions.
        model::ForwardInput contextInput;
        contextInput.inputsEmbeds = lm.embed(longTensor(context.ids).view({1, contextLength})); // [1, P, d]
        contextInput.positions = at::arange(contextLength, at::kLong).view({1, contextLength}).to(device);
        contextInput.attentionMask = at::ones({1, contextLength}, at::kBool).to(device);
        contextInput.returnCache = true;
        contextInput.logitIndices = longTensor(context.scoredPositions).view({1, scored}).to(device);
        model::ForwardOutput contextOutput = lm.forward(contextInput); // logits [1, N, V]
        std::vector<std::int64_t> nextTokens;
        for (std::int64_t p : context.scoredPositions)
            nextTokens.push_back(context.ids[std::size_t(p + 1)]);
        const at::Tensor contextLoss = at::nll_loss(at::log_softmax(contextOutput.logits[0], -1),
                                                    longTensor(nextTokens).to(device)); // []

        // All queries at once, on top of the context's cache.
        const AnswerBatch batch = makeAnswerBatch(context.queries, padId);
        const std::int64_t rows = batch.ids.size(0);
        const std::int64_t length = batch.ids.size(1);
        const model::KVCache past = contextOutput.cache.expandedTo(rows);
        model::ForwardInput queryInput;
        queryInput.inputsEmbeds = lm.embed(batch.ids); // [Q, T, d]
        queryInput.positions = at::arange(contextLength, contextLength + length, at::kLong)
                                   .view({1, length})
                                   .expand({rows, length})
                                   .to(device);
        queryInput.attentionMask = at::ones({rows, contextLength + length}, at::kBool).to(device);
        queryInput.past = &past;
        queryInput.logitIndices = batch.logitIndices.to(device);
        const at::Tensor answerLogits = lm.forward(queryInput).logits; // [Q, N, V]
        const at::Tensor answerLoss =
            at::nll_loss(at::log_softmax(answerLogits.reshape({-1, answerLogits.size(2)}), -1),
                         batch.targets.reshape({-1}).to(device), {}, at::Reduction::Mean, -100); // []

        const at::Tensor loss = (answerLoss + contextLossWeight * contextLoss) / contextCount;
        loss.backward();
        answerLosses.push_back(answerLoss.detach());
        contextLosses.push_back(contextLoss.detach());
    }
    return at::stack({at::stack(answerLosses), at::stack(contextLosses)})
        .to(at::kCPU, at::kDouble)
        .contiguous(); // [2, C]
}

at::Tensor backwardBatched(const model::CausalLM& lm, const std::vector<PreparedContext>& contexts,
                           double contextLossWeight, std::int64_t padId)
{
    const at::Device device = lm.device();
    const std::int64_t contextCount = std::int64_t(contexts.size());
    std::int64_t longest = 0;
    std::int64_t mostScored = 0;
    for (const PreparedContext& context : contexts) {
        longest = std::max(longest, std::int64_t(context.ids.size()));
        mostScored = std::max(mostScored, std::int64_t(context.scoredPositions.size()));
    }

    // The contexts, right-padded to the longest; padded keys are masked out and padded positions
    // never scored, so each context sees exactly what it would see alone.
    // Filled as plain vectors: an indexed assignment per element would cost a dispatch each.
    std::vector<std::int64_t> idValues(std::size_t(contextCount * longest), padId);
    std::vector<std::uint8_t> validValues(std::size_t(contextCount * longest), 0);
    std::vector<std::int64_t> scoredValues(std::size_t(contextCount * mostScored), 0);
    std::vector<std::int64_t> targetValues(std::size_t(contextCount * mostScored), -100);
    std::vector<std::int64_t> contextLengths;
    for (std::int64_t c = 0; c < contextCount; ++c) {
        const PreparedContext& context = contexts[std::size_t(c)];
        const std::int64_t length = std::int64_t(context.ids.size());
        contextLengths.push_back(length);
        std::copy(context.ids.begin(), context.ids.end(), idValues.begin() + c * longest);
        std::fill_n(validValues.begin() + c * longest, length, std::uint8_t(1));
        for (std::size_t s = 0; s < context.scoredPositions.size(); ++s) {
            const std::int64_t p = context.scoredPositions[s];
            scoredValues[std::size_t(c * mostScored) + s] = p;
            targetValues[std::size_t(c * mostScored) + s] = context.ids[std::size_t(p + 1)];
        }
    }
    const at::Tensor contextIds = longTensor(idValues).view({contextCount, longest}); // [C, P]
    const at::Tensor contextValid = at::tensor(at::ArrayRef<std::uint8_t>(validValues), at::kByte)
                                        .view({contextCount, longest})
                                        .to(at::kBool);                                         // [C, P]
    const at::Tensor scoredIndices = longTensor(scoredValues).view({contextCount, mostScored}); // [C, N]
    const at::Tensor scoredTargets = longTensor(targetValues).view({contextCount, mostScored}); // [C, N]
    model::ForwardInput contextInput;
    contextInput.inputsEmbeds = lm.embed(contextIds); // [C, P, d]
    contextInput.positions =
        at::arange(longest, at::kLong).view({1, longest}).expand({contextCount, longest}).to(device);
    contextInput.attentionMask = contextValid.to(device);
    contextInput.returnCache = true;
    contextInput.logitIndices = scoredIndices.to(device);
    model::ForwardOutput contextOutput = lm.forward(contextInput); // logits [C, N, V]
    const at::Tensor contextTokenLosses =
        at::nll_loss(at::log_softmax(contextOutput.logits.reshape({-1, contextOutput.logits.size(2)}), -1),
                     scoredTargets.reshape({-1}).to(device), {}, at::Reduction::None, -100)
            .view({contextCount, mostScored});                                             // [C, N]
    const at::Tensor scoredCounts = (scoredTargets != -100).sum(1).to(device, at::kFloat); // [C]
    const at::Tensor contextLoss = contextTokenLosses.sum(1) / scoredCounts;               // [C]

    // Every query of every context in one batch; each row reads its own context's cache.
    std::vector<TokenizedQuery> queries;
    std::vector<std::int64_t> rowContext;
    for (std::int64_t c = 0; c < contextCount; ++c)
        for (const TokenizedQuery& query : contexts[std::size_t(c)].queries) {
            queries.push_back(query);
            rowContext.push_back(c);
        }
    const AnswerBatch batch = makeAnswerBatch(queries, padId);
    const std::int64_t rows = batch.ids.size(0);
    const std::int64_t length = batch.ids.size(1);
    const at::Tensor rowContextCpu = longTensor(rowContext);     // [R]
    const at::Tensor rowContextIndex = rowContextCpu.to(device); // [R]
    model::KVCache past;
    for (std::size_t layer = 0; layer < contextOutput.cache.keys.size(); ++layer) {
        past.keys.push_back(
            contextOutput.cache.keys[layer].index_select(0, rowContextIndex)); // [R, Hkv, P, Dh]
        past.values.push_back(
            contextOutput.cache.values[layer].index_select(0, rowContextIndex)); // [R, Hkv, P, Dh]
    }
    const at::Tensor rowLengths = longTensor(contextLengths).index_select(0, rowContextCpu); // [R]
    model::ForwardInput queryInput;
    queryInput.inputsEmbeds = lm.embed(batch.ids); // [R, T, d]
    queryInput.positions =
        (rowLengths.view({rows, 1}) + at::arange(length, at::kLong).view({1, length})).to(device); // [R, T]
    queryInput.attentionMask =
        at::cat({contextValid.index_select(0, rowContextCpu), at::ones({rows, length}, at::kBool)}, 1)
            .to(device); // [R, P + T]
    queryInput.past = &past;
    queryInput.logitIndices = batch.logitIndices.to(device);
    const at::Tensor answerLogits = lm.forward(queryInput).logits; // [R, N, V]
    const at::Tensor answerTokenLosses =
        at::nll_loss(at::log_softmax(answerLogits.reshape({-1, answerLogits.size(2)}), -1),
                     batch.targets.reshape({-1}).to(device), {}, at::Reduction::None, -100)
            .view({rows, batch.targets.size(1)}); // [R, N]
    // Per context: the mean over all answer tokens of its queries, as the per-context path takes it.
    const at::Tensor answerCounts =
        at::zeros({contextCount}, at::kFloat)
            .index_add_(0, rowContextCpu, (batch.targets != -100).sum(1).to(at::kFloat))
            .to(device); // [C]
    const at::Tensor answerSums = at::zeros({contextCount}, answerTokenLosses.options())
                                      .index_add(0, rowContextIndex, answerTokenLosses.sum(1)); // [C]
    const at::Tensor answerLoss = answerSums / answerCounts;                                    // [C]

    const at::Tensor loss = (answerLoss + contextLossWeight * contextLoss).sum() / double(contextCount);
    loss.backward();
    return at::stack({answerLoss.detach(), contextLoss.detach()})
        .to(at::kCPU, at::kDouble)
        .contiguous(); // [2, C]
}

} // namespace

at::Tensor backwardStepLosses(const model::CausalLM& lm, const std::vector<PreparedContext>& contexts,
                              double contextLossWeight, std::int64_t padId, bool batched)
{
    return batched ? backwardBatched(lm, contexts, contextLossWeight, padId)
                   : backwardPerContext(lm, contexts, contextLossWeight, padId);
}

} // namespace sp::demo
