#pragma once
// The map of what σ forgets. For each sentence (or paragraph) of the context: how much the
// teacher's predictions on the query set change when that sentence is left out, and, on the
// queries it matters for, whether σ keeps its influence.
//
// Leave-one-out, exact, with the KV cache: the context's cache is computed once; leaving out the
// tokens [a, b) keeps its first a positions and runs only the tokens after b, at contiguous
// positions (as if the sentence had never been written). Each query is then scored at the
// teacher's own target positions (the run's next-token or continuation targets), and
//
//     influence(u, q) = KL(P_c(·|q) ‖ P_{c∖u}(·|q))      mean over q's target positions, τ = 1
//     σ distance(q)   = KL(P_c(·|q) ‖ P_σ(·|q))          the evaluation's KL
//
// u matters to q when influence(u, q) ≥ influenceThreshold. σ keeps u for q when σ's distance is
// at most keepFraction × influence(u, q): σ is closer to the teacher than the context without u is,
// by the factor asked (0.5 by default: σ keeps at least half of what u contributes).
// Torch-free header: the GUI, the CLI and the report use it.
#include "softprompt/engine.h"
#include "softprompt/model_handle.h"
#include "softprompt/prompt_format.h"
#include "softprompt/soft_prompt.h"

#include <nlohmann/json.hpp>

#include <atomic>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace sp {

enum class CoverageUnitKind { Sentence, Paragraph };
std::string coverageUnitKey(CoverageUnitKind kind);              // "sentence", "paragraph"
CoverageUnitKind coverageUnitFromKey(const std::string& key);    // throws sp::Error naming the keys

struct TextSpan {
    std::size_t begin = 0; // byte offsets into the context, [begin, end)
    std::size_t end = 0;
};
// Sentences end at '.', '!' or '?' followed by whitespace, and at line breaks; paragraphs at blank
// lines. Spans hold no leading or trailing whitespace and skip whitespace-only text.
std::vector<TextSpan> splitContextUnits(const std::string& context, CoverageUnitKind kind);

struct CoverageOptions {
    CoverageUnitKind unit = CoverageUnitKind::Sentence;
    double influenceThreshold = 0.1; // nats
    double keepFraction = 0.5;
    // The layout the queries are asked in: σ's run's format (a stored run's promptFormat); Auto, as
    // in training, is the model's chat template when it has one. The units are always the context's
    // own sentences; the template's markers are never left out.
    PromptFormat format = PromptFormat::Auto;
};

struct CoverageUnit {
    TextSpan span;
    std::string text;
    int firstToken = 0; // context tokens [firstToken, firstToken + tokenCount) left out
    int tokenCount = 0;
    std::vector<double> influence;  // per query, nats
    std::vector<bool> answerChanges; // per query: without u the argmax differs from ŷ at some target position
    std::vector<int> mattersFor;    // queries with influence ≥ threshold, most influenced first
    std::vector<int> keptFor;       // of those, where σ keeps u's influence (empty without σ)
    double maxInfluence = 0.0;
    double meanInfluence = 0.0; // over all queries
};

struct CoverageMap {
    CoverageOptions options;
    std::vector<std::string> queries;
    std::vector<CoverageUnit> units; // in context order
    bool hasSigma = false;
    std::vector<double> sigmaKl;     // per query: KL(P_c ‖ P_σ) (empty without σ)
    std::vector<bool> sigmaTop1;     // per query: σ's argmax is ŷ at every target position (teacher-forced)
    int contextTokens = 0;
    double seconds = 0.0;

    nlohmann::json toJson() const;
    static CoverageMap fromJson(const nlohmann::json& json); // throws sp::Error on a malformed map
    // "matters to 6 queries; σ keeps it for 2" (or "matters to no query").
    std::string describe(const CoverageUnit& unit) const;
};

using CoverageProgress = std::function<void(double fraction)>;

// Throws sp::Error with what to do (no model, empty context, no queries, σ for another model,
// cancelled through `cancel` as sp::Cancelled). `sigma` may be null: influence only. The run's
// `config` gives the targets (next token or L continuation tokens) and the device.
CoverageMap computeCoverage(const ModelHandle& model, const std::string& context,
                            const std::vector<Query>& queries, const TrainConfig& config,
                            const SoftPrompt* sigma, const CoverageOptions& options,
                            const CoverageProgress& progress = {}, const std::atomic<bool>* cancel = nullptr);

} // namespace sp
