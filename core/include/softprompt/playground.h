#pragma once
// The playground: ask the frozen model any question under one condition (the full context, a
// trained σ in its place, or nothing before the question) and watch the answer arrive token by
// token, greedy or sampled, with the top-k probabilities of every generated token. A conversation
// continues under the same condition: σ stays where the context would be.
//
//     full:  [prefix] c₁ … c_n  q₁ a₁ q₂ a₂ … q_t      (the teacher's layout)
//     σ:     [prefix] σ₁ … σ_k  q₁ a₁ q₂ a₂ … q_t      (the student's layout, as trained)
//     none:  [prefix]            q₁ a₁ q₂ a₂ … q_t
//
// Plain format: each question and answer is tokenised on its own and the ids are concatenated, as
// the engine does with c and z. Chat format (softprompt/prompt_format.h): the model's chat template
// renders the whole conversation (context in the system turn, questions in user turns, answers in
// assistant turns), it is tokenised as one string, and σ replaces the context's tokens only. Either
// way a one-turn greedy σ answer is the engine's own σ evaluation in that format
// (tests/core/test_playground.cpp). Torch-free: the GUI and the CLI both use it.
#include "softprompt/engine.h"
#include "softprompt/model_handle.h"
#include "softprompt/prompt_format.h"
#include "softprompt/soft_prompt.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sp {

struct SamplingSettings {
    int maxNewTokens = 32;
    bool sample = false;       // false: greedy (argmax), as the engine evaluates
    double temperature = 1.0;  // sampling only; > 0
    double topP = 1.0;         // nucleus: the smallest set of tokens whose mass reaches topP, in (0, 1]
    std::uint64_t seed = 0;    // the same seed gives the same tokens (portable generator)
    int topK = 5;              // probabilities reported per generated token
};

struct GeneratedToken {
    std::int32_t id = 0;
    std::string text;                   // the token as text (special tokens included)
    bool special = false;               // an end-of-text or other special token (not part of the reply text)
    double probability = 0.0;           // its probability under the model (temperature 1)
    std::vector<TokenProbability> topK; // the model's top-k at this step (temperature 1)
};

struct ConversationTurn {
    std::string question;           // as sent, e.g. "User: Where are you?\nAssistant:"
    std::vector<std::int32_t> reply; // the ids generated under this condition
};

struct Generation {
    Condition condition = Condition::FullContext;
    std::string text; // the reply, special tokens skipped
    std::vector<GeneratedToken> tokens;
    int promptTokens = 0;  // prefix + condition + conversation, what the model read
    bool endOfText = false; // stopped at an end-of-text token (kept in `tokens`)
    bool cancelled = false;
};

// Called on the generating thread after each token; the token is already in the result.
using TokenCallback = std::function<void(const GeneratedToken&)>;

class Playground {
public:
    // `context` may be empty when only σ and no-context answers are asked for. `format`: the layout
    // σ was trained in (a stored run's promptFormat); Auto is the chat template when the model has
    // one. Throws sp::Error when the chat format cannot be used with this model.
    Playground(ModelHandle model, std::string context, PromptFormat format = PromptFormat::Plain);
    ~Playground();
    Playground(Playground&&) noexcept;
    Playground& operator=(Playground&&) noexcept;
    struct Impl;
    // Core-internal: a playground on a model without a ModelHandle (tests on random models).
    explicit Playground(std::unique_ptr<Impl> impl);

    // σ for the σ condition. Throws sp::Error when its width is not the model's hidden size.
    void setSigma(const SoftPrompt& sigma);
    bool hasSigma() const;
    int contextTokenCount() const;

    // The layout in use: Plain, or Chat with the template's pieces.
    const PromptPieces& promptPieces() const;

    // The ids the model reads after the condition (the context or σ) before it answers: the turns,
    // and in the chat format the template's markers around them. For display and tests.
    std::vector<std::int32_t> conversationIds(const std::vector<ConversationTurn>& history,
                                              const std::string& question,
                                              Condition condition = Condition::SoftPrompt) const;

    // Generates under `condition` (FullContext, SoftPrompt or NoContext). Throws sp::Error with
    // what to do: another condition, no σ, an empty context or question, a conversation longer than
    // the window, bad sampling settings. `cancel` (may be null) is checked before every token.
    // Thread-safe for concurrent calls on one Playground (the model is read only).
    Generation generate(Condition condition, const std::vector<ConversationTurn>& history,
                        const std::string& question, const SamplingSettings& settings,
                        const TokenCallback& onToken = {}, const std::atomic<bool>* cancel = nullptr) const;

    // Teacher forcing: `reply` (generated under any condition) read under `condition`. Per reply
    // token, its probability and the top-k there. Hovering a token in the Playground tab compares
    // what each condition would have said at that point of the same answer.
    std::vector<GeneratedToken> score(Condition condition, const std::vector<ConversationTurn>& history,
                                      const std::string& question, const std::vector<std::int32_t>& reply,
                                      int topK) const;

private:
    std::unique_ptr<Impl> impl_;
};

// The three conditions the playground offers, in display order.
const std::vector<Condition>& playgroundConditions();

} // namespace sp
