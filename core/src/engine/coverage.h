#pragma once
// Coverage internals (see softprompt/coverage.h): leave-one-out prefixes from the context's KV
// cache, context units mapped to token ranges, and the computation on a task of any model.
#include "engine/task.h"
#include "softprompt/coverage.h"

#include <utility>

namespace sp::engine {

// The KV cache of [prefix] ⊕ c without the context tokens [first, first + count), from the full
// context's cache: its first fixedCount + first positions are kept as they are (causal attention
// never looked past them), and the tokens after the gap run after them at contiguous positions.
// Equals a fresh forward over [prefix] ⊕ c[:first] ⊕ c[first + count:] (test_coverage).
PrefixState leaveOutPrefix(const model::CausalLM& lm, const PrefixState& full, std::int64_t fixedCount,
                           const std::vector<std::int32_t>& contextIds, std::int64_t first, std::int64_t count);

// Per unit, the context tokens [first, first + count) it covers: the tokens whose first
// non-whitespace character lies in the unit. `pieces` are the context tokens as text (their
// concatenation is the decoded context); when that is not the context itself (a normalising
// tokenizer), offsets are mapped proportionally.
std::vector<std::pair<int, int>> unitTokenRanges(const std::string& context, const std::vector<TextSpan>& units,
                                                 const std::vector<std::string>& pieces);

CoverageMap computeCoverage(const CompressionTask::Impl& task, const std::vector<std::string>& pieces,
                            const TrainConfig& config, const SoftPrompt* sigma, const CoverageOptions& options,
                            const CoverageProgress& progress, const std::atomic<bool>* cancel);

} // namespace sp::engine
