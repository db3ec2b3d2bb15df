#pragma once
// CompressionTask's internals, shared by the trainer, the evaluator and the benchmark.
#include "engine/teacher.h"
#include "softprompt/engine.h"

namespace sp {

struct CompressionTask::Impl {
    ModelHandle handle; // unloaded for tasks built on a bare CausalLM (tests, benchmarks)
    engine::EngineModel model;
    std::string context;
    std::vector<Query> queries;
    std::vector<std::int32_t> contextIds;
    std::vector<std::vector<std::int32_t>> queryIds;
    std::vector<std::string> queryTexts;
    std::string contextKey; // model identity ⊕ prefix ids ⊕ context ids: keys the teacher caches

    Impl(ModelHandle handle, engine::EngineModel model, std::string context, std::vector<Query> queries);
    // Replaces the token ids (benchmarks that need exact lengths) and re-keys the teacher cache.
    void setTokenIds(std::vector<std::int32_t> context, std::vector<std::vector<std::int32_t>> queries);

    void validate(const TrainConfig& config) const;       // everything training needs
    void validateInputs(const TrainConfig& config) const; // what evaluation needs (no optimiser settings)
    std::vector<bool> heldoutMask(const TrainConfig& config) const;

    std::shared_ptr<const engine::ContextState> contextState() const;
    std::vector<std::shared_ptr<const engine::TeacherRecord>> teacher(const TrainConfig& config,
                                                                      const engine::Progress& progress) const;
    at::Tensor fixedPrefixEmbeds() const;                     // [P0, d] fp32: the prefix ids' embeddings
    at::Tensor initialSigma(const TrainConfig& config) const; // [k, d] fp32 on the model's device

    TrainResult train(const TrainConfig& config, const TrainCallbacks& callbacks, TrainControl& control,
                      const SoftPrompt* start);
    Evaluation evaluate(const SoftPrompt* sigma, const TrainConfig& config,
                        const std::vector<Condition>& conditions);
};

namespace engine {

// A task on a model without a ModelHandle (tests, benchmarks on random models).
std::unique_ptr<CompressionTask::Impl> makeTaskImpl(EngineModel model, std::string context,
                                                    std::vector<Query> queries);

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
