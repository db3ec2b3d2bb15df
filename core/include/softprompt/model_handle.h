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
    std::string device = "cpu";   // "cpu" or "cuda" (falls back with an sp::Error if unavailable)
    std::string dtype = "float32"; // "float32", "float16", "bfloat16" (half types need CUDA)
};

struct ModelSummary {
    std::string name;         // "demo" or the folder name
    std::string path;         // absolute folder
    std::string modelType;    // config.json model_type
    std::string identity;     // sha256 over config.json and the weight files: recorded with runs
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

    // Greedy decoding, stopping at EOS or after maxNewTokens.
    std::vector<std::int32_t> generateIds(const std::vector<std::int32_t>& promptIds, int maxNewTokens) const;
    std::string generate(const std::string& prompt, int maxNewTokens) const;

    // Per position t, the top-k next-token probabilities after text[0..t].
    struct PositionScore {
        std::int32_t token = 0; // the token at this position
        std::string text;
        std::vector<TokenProbability> topK;
    };
    std::vector<PositionScore> score(const std::string& text, int topK) const;

    model::LoadedModel& impl() const;

private:
    std::shared_ptr<model::LoadedModel> impl_;
};

} // namespace sp
