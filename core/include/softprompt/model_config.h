#pragma once
// Hugging Face config.json for the architectures the workbench runs: every field that changes the
// numerics. Any other model_type is an sp::Error that lists the supported ones.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sp {

// One value per model family, each with its own forward file in core/src/model/ (family_*.cpp).
// Llama covers llama, qwen2 and mistral (the same maths); Gemma3 is the text model (gemma3_text).
enum class Architecture { Gpt2, Llama, Qwen3, Phi3, Gemma2, Gemma3 };

struct RopeScaling {
    std::string type = "default"; // "default", "linear", "llama3", "dynamic", "yarn", "longrope"
    double factor = 1.0;          // linear, llama3, dynamic, yarn; longrope: 0 = derived
    // llama3
    double lowFreqFactor = 1.0;
    double highFreqFactor = 4.0;
    // llama3, yarn, longrope (0: config.json's top-level value or max_position_embeddings)
    std::int64_t originalMaxPositionEmbeddings = 0;
    // yarn
    double betaFast = 32.0;
    double betaSlow = 1.0;
    double mscale = 0.0;       // 0 = absent
    double mscaleAllDim = 0.0; // 0 = absent
    bool truncate = true;
    // yarn, longrope: the cos/sin multiplier; absent = derived from the factor
    std::optional<double> attentionFactor;
    // longrope: per-frequency divisors for sequences within / beyond the original window
    std::vector<double> shortFactor;
    std::vector<double> longFactor;
};

struct ModelConfig {
    std::string modelType; // as written: "gpt2", "llama", "qwen2", "mistral", "qwen3", "phi3", "gemma2", "gemma3_text"
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
    double partialRotaryFactor = 1.0; // phi3 (Phi-4-mini 0.75): only the first part of each head rotates
    std::optional<std::int64_t> slidingWindow; // mistral/qwen2/phi3 when enabled; gemma: the local window
    // Per layer "sliding_attention" or "full_attention" (gemma2/gemma3: local layers alternate with
    // global ones); empty = every layer the same.
    std::vector<std::string> layerTypes;
    // Gemma: attention scale query_pre_attn_scalar^-0.5 (0 = head_dim), tanh soft-capping of the
    // attention scores and the final logits (0 = off), local RoPE base of gemma3's sliding layers.
    double queryPreAttnScalar = 0.0;
    double attnLogitSoftcapping = 0.0;
    double finalLogitSoftcapping = 0.0;
    double ropeLocalTheta = 0.0;
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
