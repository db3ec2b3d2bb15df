#pragma once
// A loaded model as the UI and CLI see it: no torch types. The engine reaches the torch model
// through model::loadedModel() (core/src/model/handle_access.h).
#include "softprompt/chat_model_files.h"
#include "softprompt/model_config.h"
#include "softprompt/tokenizer.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sp {

namespace model {
class LoadedModel;   // core-internal (core/src/model/loaded_model.h)
struct HandleAccess; // core-internal (core/src/model/handle_access.h)
}

struct ModelLoadOptions {
    std::string device = "cpu";    // "cpu" or "cuda" (falls back with an sp::Error if unavailable)
    std::string dtype = "float32"; // "float32", "float16", "bfloat16": how the weights are kept in memory
    // How float16/bfloat16 weights compute: "auto" (native on CUDA; on the CPU float32, each matrix
    // converted block by block as it is used), "native" or "float32".
    std::string halfCompute = "auto";
    // Bytes this process may use, for the check before loading on the CPU; 0 = what the machine and its
    // cgroup leave free (MemAvailable in /proc/meminfo, cgroup memory.max).
    std::int64_t availableMemoryBytes = 0;
};

// What loading a model would take, known before loading it (config.json and the safetensors headers).
struct MemoryEstimate {
    std::int64_t parameters = 0;
    std::int64_t weightBytes = 0;     // the weights in the dtype they are kept in
    std::int64_t workingBytes = 0;    // KV cache, activations and runtime for a 2,048-token context
    std::int64_t requiredBytes = 0;   // weightBytes + workingBytes
    std::int64_t availableBytes = -1; // free for this process; -1 when unknown
    std::string availableSource;      // where availableBytes comes from
    std::string dtype;                // the weights' dtype the estimate is for
    bool fits() const { return availableBytes < 0 || requiredBytes <= availableBytes; }
    std::string summary() const; // "needs about 2.6 GB (20.1 GB free)"
};
// Throws sp::Error for a folder that is not a model (as load would).
MemoryEstimate estimateModelMemory(const std::string& pathOrDemo, const ModelLoadOptions& options = {});
// Free memory for this process in bytes: MemAvailable, lowered to the cgroup's limit minus its usage
// when one is set; -1 when neither can be read. `source` names what limited it.
std::int64_t availableMemoryBytes(std::string* source = nullptr);
// "2.6 GB"
std::string formatBytes(std::int64_t bytes);

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
    std::string dtype;  // "float32", ...: the weights in memory
    std::string computeDtype; // the activations: float32 for half-precision weights on the CPU
};

struct TokenProbability {
    std::int32_t id = 0;
    std::string text; // decoded piece
    double probability = 0.0;
};

class ModelHandle {
public:
    ModelHandle() = default;
    // `pathOrDemo` is a Hugging Face folder or "demo" (the bundled model). Throws sp::Error, also
    // when the model would not fit in the memory that is free on the CPU (estimateModelMemory).
    static ModelHandle load(const std::string& pathOrDemo, const ModelLoadOptions& options = {});
    // A seeded random model of a published shape (randomModelPresets()), made in memory with the
    // options' device and dtype: benchmarks of shapes whose checkpoints are not at hand. No tokenizer.
    static ModelHandle createRandom(const std::string& preset, const ModelLoadOptions& options = {},
                                    std::uint64_t seed = 0);

    bool isLoaded() const { return bool(impl_); }
    const ModelSummary& summary() const;
    const Tokenizer& tokenizer() const;
    // Chat template(s), special-token strings and merged EOS ids of the model folder.
    const ChatModelFiles& chatFiles() const;

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

private:
    friend struct model::HandleAccess;
    model::LoadedModel& impl() const; // core-internal: model::loadedModel(handle), model/handle_access.h
    std::shared_ptr<model::LoadedModel> impl_;
};

// This process's resident memory (VmRSS) and its peak so far (VmHWM) in bytes; -1 where unknown.
struct ProcessMemory {
    std::int64_t residentBytes = -1;
    std::int64_t peakResidentBytes = -1;
};
ProcessMemory processMemory();
// The bytes of a loaded model's weights as kept in memory (a tied head counted once).
std::int64_t modelWeightBytes(const ModelHandle& model);

// Random models of published shapes, for benchmarks where no checkpoint is at hand: "tiny" (4M,
// Llama-style, a 4,096-token vocabulary), "smollm-135m" (Llama with GQA and a tied head, 135M
// parameters), "gpt2-small" (124M), "qwen2.5-0.5b" (494M), "llama-3.2-1b" (1.24B) and "llama-3-8b"
// (8.03B; Llama-3.1-8B's llama3 RoPE).
std::vector<std::string> randomModelPresets();
// The preset's config, as its published config.json gives it; throws sp::Error for an unknown preset,
// naming the known ones. The one way benches and tests build a model config.
ModelConfig randomModelConfig(const std::string& preset);
// Whether `softprompt bench model --random` makes the preset in memory (the large ones) rather than
// writing it to a temporary folder and loading that.
bool randomPresetMadeInMemory(const std::string& preset);
// Writes config.json + model.safetensors (float32) of a seeded random model; throws sp::Error for an
// unknown preset, naming the known ones.
void writeRandomModel(const std::string& folder, const std::string& preset, std::uint64_t seed = 0);

} // namespace sp
