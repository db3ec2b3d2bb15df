#pragma once
// Greedy decoding with the KV cache, shared by ModelHandle, the CLI and the tests.
#include "model/causal_lm.h"

#include <vector>

namespace sp::model {

// Greedy continuation of one prompt: the prompt is prefilled once, then each new token reuses the
// cache. Stops after maxNewTokens, at the window's end, or after the first id in stopIds (which is
// kept, as transformers' generate keeps EOS). Returns only the new ids. Runs without autograd.
std::vector<std::int64_t> greedyDecode(const CausalLM& model, const std::vector<std::int64_t>& promptIds,
                                       int maxNewTokens, const std::vector<std::int64_t>& stopIds);

} // namespace sp::model
