#pragma once
// Playground internals: the condition prefixes (shared with the coverage map), and a playground on
// a bare CausalLM for tests.
#include "engine/task.h"
#include "softprompt/playground.h"

#include <mutex>
#include <optional>

namespace sp {

struct Playground::Impl {
    ModelHandle handle; // unloaded for playgrounds built on a bare CausalLM (tests)
    engine::EngineModel model;
    std::string context;
    std::vector<std::int32_t> contextIds;
    std::string contextKey; // as CompressionTask keys it, so the two share the context's KV cache

    mutable std::mutex mutex;
    at::Tensor sigma; // [k, d] fp32 on the model's device; undefined until setSigma
    mutable std::optional<engine::PrefixState> sigmaPrefix;
    mutable std::optional<engine::PrefixState> emptyPrefix;

    Impl(ModelHandle handle, engine::EngineModel model, std::string context);
    engine::PrefixState prefixFor(Condition condition) const;
};

namespace engine {

// The KV cache of [prefix] ⊕ σ (or of [prefix] alone when `sigma` is undefined), built as the
// evaluator builds its σ and no-context conditions: the prefix ids' embeddings in fp32, then σ.
//   sigma: [k, d] or undefined.
PrefixState conditionPrefixFromEmbeddings(const EngineModel& model, const at::Tensor& sigma);

std::unique_ptr<Playground::Impl> makePlaygroundImpl(EngineModel model, std::string context);

} // namespace engine
} // namespace sp
