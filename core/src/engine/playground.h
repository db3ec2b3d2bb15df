#pragma once
// Playground internals: the condition prefixes (shared with the coverage map), and a playground on
// a bare CausalLM for tests.
#include "engine/prompt_layout.h"
#include "engine/task.h"
#include "softprompt/playground.h"

#include <mutex>
#include <optional>

namespace sp {

struct Playground::Impl {
    ModelHandle handle; // unloaded for playgrounds built on a bare CausalLM (tests)
    engine::EngineModel model;
    std::string context;
    std::vector<std::int32_t> contextIds; // plain format: the context tokenised on its own
    std::string contextKey; // as CompressionTask keys it, so the two share the context's KV cache
    std::optional<engine::ChatPrompt> chat; // the chat format: the model's template; empty = plain
    PromptPieces pieces;

    mutable std::mutex mutex;
    at::Tensor sigma; // [k, d] fp32 on the model's device; undefined until setSigma
    mutable std::optional<engine::PrefixState> sigmaPrefix;
    mutable std::vector<std::int32_t> sigmaPrefixPre; // the ids before σ in sigmaPrefix
    mutable std::optional<engine::PrefixState> emptyPrefix;

    // A conversation as the model reads it under one condition: [pre][context or σ][rest]. The rest
    // holds the turns (and, in the chat format, the markers between them), ending where the model
    // answers. No context: pre and context are empty and everything is in the rest.
    struct Layout {
        std::vector<std::int32_t> pre;
        std::vector<std::int32_t> context; // full context only
        std::vector<std::int32_t> rest;
    };

    Impl(ModelHandle handle, engine::EngineModel model, std::string context, PromptFormat format);
    Layout layoutFor(Condition condition, const std::vector<ConversationTurn>& history,
                     const std::string& question) const;
    engine::PrefixState prefixFor(Condition condition, const Layout& layout) const;

private:
    Layout plainLayout(Condition condition, const std::vector<ConversationTurn>& history,
                       const std::string& question) const;
    Layout chatLayout(Condition condition, const std::vector<ConversationTurn>& history,
                      const std::string& question) const;
};

namespace engine {

// The KV cache of pre ⊕ σ (or of pre alone when `sigma` is undefined), built as the evaluator
// builds its σ and no-context conditions: the ids' embeddings in fp32, then σ.
//   sigma: [k, d] or undefined.
PrefixState conditionPrefixFromEmbeddings(const EngineModel& model, const std::vector<std::int32_t>& pre,
                                          const at::Tensor& sigma);

std::unique_ptr<Playground::Impl> makePlaygroundImpl(EngineModel model, std::string context,
                                                     PromptFormat format = PromptFormat::Plain);

} // namespace engine
} // namespace sp
