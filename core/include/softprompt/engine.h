#pragma once
// The compression engine: learn k soft-prompt vectors σ so that the frozen model given (σ, z)
// predicts what it predicts given (c, z). Torch-free: the GUI and the CLI both drive it.
//
//     σ̂ = argmin_σ s(ŷ, ŷ_σ)   (argmax for a similarity such as cosine)
#include "softprompt/model_handle.h"
#include "softprompt/prompt_format.h"
#include "softprompt/soft_prompt.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sp {

namespace engine {
struct TaskAccess; // core-internal (core/src/engine/task.h)
}

// ---- objectives --------------------------------------------------------------------------------
enum class Objective { ForwardKL, ReverseKL, JensenShannon, TeacherNLL, LogitMSE, Cosine };

struct ObjectiveInfo {
    Objective objective;
    std::string key;             // CLI name: kl, rkl, js, nll, mse, cosine
    std::string label;           // "Forward KL(P_c ‖ P_σ)"
    bool higherIsBetter = false; // true for similarities (argmax), false for divergences (argmin)
    std::string description;
};
const std::vector<ObjectiveInfo>& allObjectives();
const ObjectiveInfo& objectiveInfo(Objective objective);
Objective objectiveFromKey(const std::string& key); // throws sp::Error listing the keys

enum class TargetKind { NextToken, Continuation };
enum class InitKind { Random, Vocabulary, Text, ChunkMeans };
std::string targetKindKey(TargetKind kind); // "next", "continuation"
TargetKind targetKindFromKey(const std::string& key);
std::string initKindKey(InitKind kind); // "random", "vocab", "text", "chunks"
InitKind initKindFromKey(const std::string& key);

// ---- inputs ------------------------------------------------------------------------------------
struct Query {
    std::string text;
    std::string target; // optional expected answer
    bool heldOut = false;
};
// One {"query": "...", "target": "..."} per line; target optional. Throws sp::Error naming the line.
std::vector<Query> readQueriesJsonl(const std::string& path, bool heldOut = false);
void writeQueriesJsonl(const std::string& path, const std::vector<Query>& queries);

struct TrainConfig {
    int k = 8;
    Objective objective = Objective::ForwardKL;
    double temperature = 1.0;
    TargetKind target = TargetKind::NextToken;
    int continuationLength = 8; // L, for TargetKind::Continuation
    InitKind init = InitKind::Text;
    std::string initText;            // for InitKind::Text; empty = the context itself
    std::string optimizer = "adamw"; // "adam" or "adamw"
    double learningRate = 0.01;
    double weightDecay = 0.0;
    int steps = 200;
    int warmupSteps = 10;      // then cosine decay to 0.1 × lr
    int batchSize = 8;         // queries per step
    double gradClip = 1.0;     // max global norm; 0 = off
    int evalInterval = 10;     // held-out evaluation every N steps
    int earlyStopPatience = 0; // evaluations without held-out improvement before stopping; 0 = off
    int checkpointInterval = 50;
    int teacherTopK = 64;             // kept teacher probabilities per position (+ tail mass) for large V
    int teacherFullVocabulary = 4096; // vocabularies up to this size keep the teacher's full distribution
    double heldoutFraction = 0.2;     // used when no query is marked held-out
    std::uint64_t seed = 0;
    std::string device = "cpu";
    std::string dtype = "float32";
    // As JSON: softprompt/train_config_json.h.
};

// ---- training ----------------------------------------------------------------------------------
struct StepReport {
    int step = 0; // 1-based
    int totalSteps = 0;
    double trainS = 0.0;     // s on this step's minibatch
    double trainTop1 = 0.0;  // top-1 agreement with the teacher on this minibatch
    bool hasHeldout = false; // true on evaluation steps
    double heldoutS = 0.0;
    double heldoutTop1 = 0.0;
    double learningRate = 0.0;
    double gradNorm = 0.0; // before clipping
    double stepSeconds = 0.0;
    double tokensPerSecond = 0.0;
    double elapsedSeconds = 0.0;
    double etaSeconds = 0.0;
};

struct TrainControl {
    std::atomic<bool> cancel{false}; // acted on within one step
    std::atomic<bool> pause{false};  // the trainer sleeps between steps while set
};

struct TrainCallbacks {
    std::function<void(const StepReport&)> onStep;
    std::function<void(int step, const SoftPrompt&)> onCheckpoint;
    // Phases before the first step ("computing teacher", ...), fraction in [0, 1].
    std::function<void(const std::string& phase, double fraction)> onPhase;
};

struct TrainResult {
    RunStatus status = RunStatus::Finished;
    SoftPrompt sigma; // the last good σ (also on failure/cancel)
    int stepsCompleted = 0;
    double initialTrainS = 0.0;
    double finalTrainS = 0.0;
    std::string error; // for Failed: what happened and what to do
    int badStep = -1;  // the step that produced NaN/Inf, when that was the failure
};

// ---- evaluation --------------------------------------------------------------------------------
enum class Condition { FullContext, SoftPrompt, NoContext, FirstK, LastK, PrunedHardPrompt };
std::string conditionKey(Condition condition);   // "full", "sigma", "none", "first_k", "last_k", "pruned"
std::string conditionLabel(Condition condition); // "Full context", "σ", ...
const std::vector<Condition>& allConditions();

struct ConditionOutcome {
    Condition condition = Condition::FullContext;
    std::string prediction; // decoded ŷ under this condition (greedy, up to L tokens)
    std::vector<std::int32_t> predictionIds;
    double s = 0.0;                         // the run's objective against the full-context teacher
    double kl = 0.0;                        // forward KL against the teacher (first position / mean over L)
    bool top1Agrees = false;                // argmax equals the teacher's argmax (first position)
    double teacherNll = 0.0;                // NLL of the teacher's ŷ under this condition
    bool exactMatch = false;                // the greedy continuation equals the teacher's (up to L tokens)
    std::vector<TokenProbability> topK;     // first position's top-k
    std::vector<double> perTokenDivergence; // continuation targets: KL per position
};

struct QueryEvaluation {
    std::string query;
    std::string target;
    bool heldOut = false;
    std::vector<ConditionOutcome> outcomes; // one per evaluated condition
};

struct Interval {
    double mean = 0.0;
    double low = 0.0; // 95% bootstrap confidence interval
    double high = 0.0;
};

struct ConditionAggregate {
    Condition condition = Condition::FullContext;
    Interval s, kl, top1Agreement, exactMatch;
};

struct Evaluation {
    std::vector<QueryEvaluation> queries;
    std::vector<ConditionAggregate> heldout; // aggregates over held-out queries
    std::vector<ConditionAggregate> train;   // aggregates over training queries
};

// The prompt a condition gives the model before its continuation, as text built from a layout's
// pieces, for display (the Compare tab): σ's slots read "[σ × k]"; first-k and last-k cut the
// context's tokens with `tokenizer` (without one they are described); the pruned prompt needs the
// teacher's surprisal, so it is described. Torch-free.
std::string conditionPromptText(const PromptPieces& pieces, Condition condition, const std::string& context,
                                const std::string& query, int k, const Tokenizer* tokenizer);

// ---- the task ----------------------------------------------------------------------------------
// One context and its queries on one model. Holds the teacher (the context's KV cache and the
// teacher distributions), computed once and cached by model identity, context hash, query and
// settings.
class CompressionTask {
public:
    // `format`: how c and z go into the prompt (Auto = the model's chat template when it has one;
    // see softprompt/prompt_format.h). Throws sp::Error when the template cannot hold them.
    CompressionTask(ModelHandle model, std::string context, std::vector<Query> queries,
                    PromptFormat format = PromptFormat::Plain, const std::string& templateName = "");
    ~CompressionTask();
    struct Impl; // core-internal (core/src/engine/task.h)

    const ModelHandle& model() const;
    const std::string& context() const;
    const std::vector<Query>& queries() const;
    int contextTokenCount() const;
    // The layout this task uses: [pre][context → σ][mid][query][post], as text.
    const PromptPieces& promptPieces() const;
    // The ids the model sees before the continuation for query `query` under `condition` (σ's k
    // slots are shown as k copies of -1), and the same as text with σ written as "[σ × k]".
    std::vector<std::int32_t> promptIds(Condition condition, std::size_t query, int k) const;
    std::string promptText(Condition condition, std::size_t query, int k) const;

    // Throws sp::Error with what to do: empty context, no queries, k too large, context + σ +
    // query longer than the window, unknown device.
    void validate(const TrainConfig& config) const;

    TrainResult train(const TrainConfig& config, const TrainCallbacks& callbacks, TrainControl& control);
    // Continues from a given σ (a checkpoint, or a σ trained with other settings) instead of config.init.
    TrainResult train(const TrainConfig& config, const TrainCallbacks& callbacks, TrainControl& control,
                      const SoftPrompt& start);
    Evaluation evaluate(const SoftPrompt& sigma, const TrainConfig& config,
                        const std::vector<Condition>& conditions = allConditions());
    // Baselines only (no σ): full context, no context, first-k, last-k, pruned. For reference lines.
    Evaluation evaluateBaselines(const TrainConfig& config);
    // The teacher's greedy continuation (with the full context) of each query: "fill targets".
    std::vector<std::string> teacherContinuations(int maxNewTokens);

    // Which queries are held out under `config`: those marked heldOut, else a seeded
    // heldoutFraction of them (at least one when there are two or more queries).
    std::vector<bool> heldoutMask(const TrainConfig& config) const;

private:
    friend struct engine::TaskAccess;
    // Core-internal: engine::taskFromImpl (tests, benchmarks on random models).
    explicit CompressionTask(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// Train for each k and report fidelity against compression ratio (context tokens / k).
struct SweepPoint {
    int k = 0;
    double compressionRatio = 0.0;
    TrainResult result;
    ConditionAggregate heldoutSigma;
};
std::vector<SweepPoint> runCompressionSweep(CompressionTask& task, const TrainConfig& base,
                                            const std::vector<int>& ks, const TrainCallbacks& callbacks,
                                            TrainControl& control);

} // namespace sp
