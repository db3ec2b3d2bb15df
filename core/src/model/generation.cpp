#include "model/generation.h"

#include "model/family.h"

#include "softprompt/error.h"

#include <algorithm>

namespace sp::model {

std::vector<std::int64_t> greedyDecode(const CausalLM& model, const std::vector<std::int64_t>& promptIds,
                                       int maxNewTokens, const std::vector<std::int64_t>& stopIds)
{
    if (promptIds.empty())
        throw Error("cannot generate from an empty prompt: give at least one token");
    const std::int64_t promptLength = std::int64_t(promptIds.size());
    model.checkSequenceLength(promptLength, "the prompt");
    c10::InferenceMode inference;
    const std::int64_t window = longestSequence(model.config());
    const std::int64_t room = window - promptLength;
    const std::int64_t steps = std::min<std::int64_t>(maxNewTokens, room);
    std::vector<std::int64_t> generated;
    if (steps <= 0)
        return generated;
    const at::TensorOptions longOptions = at::TensorOptions().dtype(at::kLong).device(model.device());
    ForwardInput prefill;
    prefill.inputsEmbeds = model.embed(at::tensor(promptIds, at::kLong).view({1, promptLength})); // [1, T, d]
    prefill.positions = at::arange(promptLength, longOptions).unsqueeze(0);                       // [1, T]
    prefill.attentionMask = at::ones({1, promptLength}, longOptions.dtype(at::kBool));            // [1, T]
    prefill.logitIndices =
        at::full({1, 1}, promptLength - 1, longOptions); // only the last position is needed
    prefill.returnCache = true;
    ForwardOutput output = model.forward(prefill);
    for (std::int64_t step = 0; step < steps; ++step) {
        const std::int64_t next = output.logits[0][-1].argmax().item<std::int64_t>();
        generated.push_back(next);
        if (std::find(stopIds.begin(), stopIds.end(), next) != stopIds.end() || step + 1 == steps)
            break;
        const KVCache cache = std::move(output.cache);
        output = model.forwardIds(at::full({1, 1}, next, longOptions), &cache, /*returnCache=*/true);
    }
    return generated;
}

} // namespace sp::model
