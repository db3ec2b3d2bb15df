#pragma once
// A loaded model as the UI and CLI see it: no torch types. The engine reaches the torch model
// through impl().
#include "softprompt/tokenizer.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sp {

namespace model {
class LoadedModel; // core-internal (core/src/model/loaded_model.h)
}

struct ModelLoadOptions {
    std::string device = "cpu";    // "cpu" or "cuda" (falls back with an sp::Error if unavailable)
    std::string dtype = "float32"; // "float32", "float16", "bfloat16" (half types need CUDA)
};

struct ModelSummary {
    std::string name;      // "demo" or the folder name
    std::string path;      // absolute folder
    std::string modelType; // config.json model_type
    std::string identity;  // sha256 over config.json and the weight files: recorded with runs
    std::int64_t parameterCount = 0;
    std::int64_t contextWindow = 0; // positions the model can attend to
    std::int64_t vocabSize = 0;
    std::int64_t hiddenSize = 0;
    std::int64_t numLayers = 0;
    std::int64_t numHeads = 0;
    std::string device; // "cpu", "cuda:0"
    std::string dtype;  // "float32", ...
};

struct TokenProbability {
    std::int32_t id = 0;
    std::string text; // decoded piece
    double probability = 0.0;
};

class ModelHandle {
public:
    ModelHandle() = default;
    // `pathOrDemo` is a Hugging Face folder or "demo" (the bundled model). Throws sp::Error.
    static ModelHandle load(const std::string& pathOrDemo, const ModelLoadOptions& options = {});

    bool isLoaded() const { return bool(impl_); }
    const ModelSummary& summary() const;
    const Tokenizer& tokenizer() const;

    // Greedy decoding with the KV cache, stopping at EOS (kept) or after maxNewTokens or at the end
    // of the window. Returns the new ids only.
    std::vector<std::int32_t> generateIds(const std::vector<std::int32_t>& promptIds, int maxNewTokens) const;
    std::string generate(const std::string& prompt, int maxNewTokens) const;

    // Per position t, the top-k next-token probabilities after text[0..t].
    struct PositionScore {
        std::int32_t token = 0; // the token at this position
        std::string text;
        std::vector<TokenProbability> topK;
    };
    std::vector<PositionScore> score(const std::string& text, int topK) const;

    // Float32 logits of one sequence (positions 0..T-1), row-major [T, V]: `softprompt forward`.
    std::vector<float> logits(const std::vector<std::int32_t>& ids) const;

    model::LoadedModel& impl() const;

private:
    std::shared_ptr<model::LoadedModel> impl_;
};

// ---- benchmarking (softprompt bench model) ------------------------------------------------------
struct ModelBenchmark {
    double loadSeconds = 0.0;     // weights and tokenizer, as ModelHandle::load did them
    double identitySeconds = 0.0; // hashing config + weights (fast when the digest cache knows them)
    int threads = 0;              // CPU threads LibTorch used
    int prefillTokens = 0;
    double prefillSeconds = 0.0; // best forward over prefillTokens (last position's logits only)
    double prefillTokensPerSecond = 0.0;
    double prefillGflop = 0.0; // matrix-multiply work of that forward
    double prefillGflopPerSecond = 0.0;
    double prefillAllLogitsTokensPerSecond = 0.0; // the same forward with logits at every position
    int decodeTokens = 0;
    double decodeTokensPerSecond = 0.0; // median greedy step with the KV cache after a 128-token prompt
    double gemmGflopPerSecond = 0.0;    // best GEMM of the MLP's shape, interleaved with the prefills
    std::string gemmShape;              // "MxKxN"
};
ModelBenchmark benchmarkModel(const ModelHandle& model, int prefillTokens = 512, int decodeTokens = 32);

// Random models of published shapes, for benchmarks where no checkpoint is at hand:
// "smollm-135m" (Llama with GQA and a tied head, 135M parameters) and "gpt2-small" (124M).
std::vector<std::string> randomModelPresets();
// Writes config.json + model.safetensors (float32) of a seeded random model; throws sp::Error for an
// unknown preset, naming the known ones.
void writeRandomModel(const std::string& folder, const std::string& preset, std::uint64_t seed = 0);

} // namespace sp
