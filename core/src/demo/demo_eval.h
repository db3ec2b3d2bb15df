#pragma once
// Evaluation of a model that is already in memory (pretraining's periodic check uses it too).
#include "model/causal_lm.h"
#include "softprompt/demo_corpus.h"
#include "softprompt/demo_training.h"
#include "softprompt/tokenizer.h"

#include <functional>

namespace sp::demo {

// Exact match on `examples` fresh contexts from DemoCorpusGenerator(seed, corpusOptions), one
// query each. corpusOptions.countTokens is set to the tokenizer's count when empty. Without
// `withoutContext`, the no-context half is skipped (faster).
DemoEvalResult evaluateInMemory(const model::CausalLM& lm, const Tokenizer& tokenizer, int examples,
                                std::uint64_t seed, DemoCorpusOptions corpusOptions, bool withoutContext,
                                int keepExamples, const std::function<void(int done, int total)>& onProgress);

} // namespace sp::demo
