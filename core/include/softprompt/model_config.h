#pragma once
// Hugging Face config.json for the architectures the workbench runs: every field that changes the
// numerics. Any other model_type is an sp::Error that lists the supported ones.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sp {

enum class Architecture { Gpt2, Llama }; // Llama covers llama, qwen2 and mistral

struct RopeScaling {
    std::string type = "default"; // "default", "linear", "llama3"
    double factor = 1.0;
    // llama3 only
    double lowFreqFactor = 1.0;
    double highFreqFactor = 4.0;
    std::int64_t originalMaxPositionEmbeddings = 0;
};

struct ModelConfig {
    std::string modelType; // as written: "gpt2", "llama", "qwen2", "mistral"
    Architecture architecture = Architecture::Gpt2;
    std::int64_t vocabSize = 0;
    std::int64_t hiddenSize = 0;            // n_embd / hidden_size
    std::int64_t numLayers = 0;             // n_layer / num_hidden_layers
    std::int64_t numHeads = 0;              // n_head / num_attention_heads
    std::int64_t numKeyValueHeads = 0;      // = numHeads when absent (GPT-2: always numHeads)
    std::int64_t headDim = 0;               // head_dim, else hiddenSize / numHeads
    std::int64_t intermediateSize = 0;      // n_inner (GPT-2: 4 * hidden when null) / intermediate_size
    std::int64_t maxPositionEmbeddings = 0; // n_positions / max_position_embeddings
    std::string activation;                 // "gelu_new", "gelu", "silu", ...
    double normEpsilon = 1e-5;              // layer_norm_epsilon / rms_norm_eps
    bool tieWordEmbeddings = true;
    bool attentionBias = false;       // llama attention_bias; qwen2 always has q/k/v bias
    bool attentionOutputBias = false; // o_proj bias (llama attention_bias applies to it too)
    bool mlpBias = false;             // llama mlp_bias
    double ropeTheta = 10000.0;
    RopeScaling ropeScaling;
    std::optional<std::int64_t> slidingWindow; // mistral/qwen2 when enabled
    bool scaleAttnByInverseLayerIdx = false;   // gpt2 flag (rejected if true: unsupported)
    std::optional<std::int64_t> bosTokenId;
    std::vector<std::int64_t> eosTokenIds;
    std::optional<std::int64_t> padTokenId;
    std::string torchDtype; // "float32", "bfloat16", ... as declared in the file (informational)

    // Reads config.json (a file or a folder that holds one).
    static ModelConfig fromFile(const std::string& path);
    static ModelConfig fromJsonText(const std::string& jsonText, const std::string& sourceName);
    std::string toJsonText() const; // a config.json that fromJsonText reads back identically
    std::int64_t parameterCount() const;

    bool operator==(const ModelConfig& other) const;
    bool operator!=(const ModelConfig& other) const { return !(*this == other); }
};

bool operator==(const RopeScaling& a, const RopeScaling& b);
inline bool operator!=(const RopeScaling& a, const RopeScaling& b)
{
    return !(a == b);
}

std::vector<std::string> supportedModelTypes();
// hidden_act / activation_function values the workbench runs: "gelu_new", "gelu_pytorch_tanh" and
// "gelu_fast" (the same tanh approximation), "gelu" (exact erf), "quick_gelu" (x sigmoid(1.702 x)),
// "relu", "silu" ("swish" is read as "silu"). The same set as the model's activationFromName.
std::vector<std::string> supportedActivations();

} // namespace sp
