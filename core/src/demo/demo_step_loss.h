#pragma once
// The losses of one pretraining step, and their gradients. Two ways to compute the same thing:
//   - one context at a time (two forward passes per context; the CPU default, bit-reproducible and
//     what trained the shipped model);
//   - all of a step's contexts in one right-padded batch (two forward passes per step), which a GPU
//     needs: one context at a time is launch-bound there.
// Both weight the contexts equally: loss = sum over contexts of (answer_c + w * context_c) / C.
#include "demo/demo_batches.h"
#include "torch_common.h"

#include <cstdint>
#include <vector>

namespace sp::model {
class CausalLM;
}

namespace sp::demo {

struct PreparedContext {
    std::vector<std::int64_t> ids;             // the context's tokens
    std::vector<std::int64_t> scoredPositions; // positions p whose next token p + 1 gets the LM loss
    std::vector<TokenizedQuery> queries;
};

// Runs the step's forward and backward passes (gradients accumulate into the model's parameters)
// and returns the per-context losses, [2, C] float64 on the CPU: row 0 the mean answer
// cross-entropy of each context, row 1 its context LM loss. One host transfer per call.
at::Tensor backwardStepLosses(const model::CausalLM& lm, const std::vector<PreparedContext>& contexts,
                              double contextLossWeight, std::int64_t padId, bool batched);

} // namespace sp::demo
