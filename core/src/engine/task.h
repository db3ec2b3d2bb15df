#pragma once
// CompressionTask's internals, shared by the trainer, the evaluator and the benchmark.
#include "engine/prompt_layout.h"
#include "engine/teacher.h"
#include "softprompt/benchmarks.h"
#include "softprompt/engine.h"

namespace sp {

struct CompressionTask::Impl {
    ModelHandle handle; // unloaded for tasks built on a bare CausalLM (tests, benchmarks)
    engine::EngineModel model;
    std::string context;
    std::vector<Query> queries;
    // The prompt layout [pre][context → σ][mid][query][post] (engine/prompt_layout.h).
    PromptPieces promptPieces;
    std::vector<std::int32_t> preIds;       // before the context (BOS in the plain format)
    std::vector<std::int32_t> contextIds;   // c
    std::vector<std::int32_t> midIds;       // between the context and the query
    std::vector<std::int32_t> noContextIds; // before the query when there is no context
    std::vector<std::vector<std::int32_t>> queryIds; // per query: z ⊕ post
    std::vector<std::string> queryTexts;             // keys of the teacher records
    std::string contextKey; // model identity ⊕ pre ⊕ context ⊕ mid ids: keys the teacher caches

    Impl(ModelHandle handle, engine::EngineModel model, std::string context, std::vector<Query> queries,
         PromptFormat format = PromptFormat::Plain, const std::string& templateName = "");
    // Replaces the token ids (benchmarks that need exact lengths) and re-keys the teacher cache.
    void setTokenIds(std::vector<std::int32_t> context, std::vector<std::vector<std::int32_t>> queries);

    void validate(const TrainConfig& config) const;       // everything training needs
    void validateInputs(const TrainConfig& config) const; // what evaluation needs (no optimiser settings)
    std::vector<bool> heldoutMask(const TrainConfig& config) const;

    std::shared_ptr<const engine::ContextState> contextState() const;
    std::vector<std::shared_ptr<const engine::TeacherRecord>> teacher(const TrainConfig& config,
                                                                      const engine::Progress& progress) const;
    at::Tensor embedIds(const std::vector<std::int32_t>& ids) const; // [n, d] fp32 (n may be 0)
    // pre ⊕ middle ⊕ mid [P, d] fp32, for middle [n, d] fp32: σ (the student) or context tokens.
    at::Tensor aroundContext(const at::Tensor& middle) const;
    // The context tokens a hard-prompt baseline keeps (FirstK, LastK, PrunedHardPrompt), in order.
    std::vector<std::int32_t> keptContextIds(Condition condition, int k, const std::vector<double>& surprisal) const;
    // The ids before the continuation under a condition (σ's slots as -1; pruning needs the teacher).
    std::vector<std::int32_t> conditionPromptIds(Condition condition, int k, std::size_t query) const;
    at::Tensor initialSigma(const TrainConfig& config) const; // [k, d] fp32 on the model's device

    TrainResult train(const TrainConfig& config, const TrainCallbacks& callbacks, TrainControl& control,
                      const SoftPrompt* start);
    Evaluation evaluate(const SoftPrompt* sigma, const TrainConfig& config,
                        const std::vector<Condition>& conditions);
};

namespace engine {

// CompressionTask keeps its Impl constructor private; core reaches it through here.
struct TaskAccess {
    static CompressionTask fromImpl(std::unique_ptr<CompressionTask::Impl> impl)
    {
        return CompressionTask(std::move(impl));
    }
};
inline CompressionTask taskFromImpl(std::unique_ptr<CompressionTask::Impl> impl)
{
    return TaskAccess::fromImpl(std::move(impl));
}

// A task on a model without a ModelHandle (tests, benchmarks on random models).
std::unique_ptr<CompressionTask::Impl> makeTaskImpl(EngineModel model, std::string context,
                                                    std::vector<Query> queries,
                                                    PromptFormat format = PromptFormat::Plain);

SoftPrompt softPromptFromTensor(const at::Tensor& sigma);                    // [k, d] → host fp32
at::Tensor tensorFromSoftPrompt(const SoftPrompt& sigma, at::Device device); // → [k, d] fp32

// Mean s and mean top-1 agreement of σ over `set` (no gradients, batched).
struct SetScore {
    double s = 0.0;
    double top1 = 0.0;
};
nlohmann::json runTrainBenchmark(CompressionTask::Impl& task, const std::string& modelName,
                                 const TrainBenchOptions& options);

SetScore scoreSet(const model::CausalLM& lm, const at::Tensor& prefixEmbeds, const QuerySet& set,
                  const TrainConfig& config);

} // namespace engine
} // namespace sp
