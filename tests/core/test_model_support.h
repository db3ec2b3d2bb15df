#pragma once
// Tiny model configurations and comparison helpers shared by the model tests.
#include "model/causal_lm.h"
#include "softprompt/model_shape.h"

#include <ATen/CPUGeneratorImpl.h>

#include <QString>

#include <string>

namespace modeltest {

inline sp::ModelConfig tinyGpt2()
{
    // ModelShape: vocabulary, hidden, intermediate, layers, heads, key/value heads, head dim, positions.
    sp::ModelConfig config = sp::shapedModelConfig("gpt2", {97, 32, 64, 2, 4, 4, 8, 64});
    config.tieWordEmbeddings = true;
    config.eosTokenIds = {96};
    return config;
}

// Llama with grouped-query attention (4 query heads share 2 key/value heads) and an untied head.
inline sp::ModelConfig tinyLlama()
{
    sp::ModelConfig config = sp::shapedModelConfig("llama", {101, 32, 48, 2, 4, 2, 8, 128});
    config.normEpsilon = 1e-6;
    config.tieWordEmbeddings = false;
    config.ropeTheta = 10000.0;
    config.eosTokenIds = {2};
    return config;
}

inline sp::ModelConfig tinyLlama3Rope()
{
    sp::ModelConfig config = tinyLlama();
    config.headDim = 16; // 8 frequencies, so that all three llama3 bands occur
    config.numHeads = 2;
    config.numKeyValueHeads = 1;
    config.ropeTheta = 500000.0;
    config.ropeScaling.type = "llama3";
    config.ropeScaling.factor = 8.0;
    config.ropeScaling.lowFreqFactor = 1.0;
    config.ropeScaling.highFreqFactor = 4.0;
    config.ropeScaling.originalMaxPositionEmbeddings = 32;
    config.tieWordEmbeddings = true;
    return config;
}

inline sp::ModelConfig tinyLinearRope()
{
    sp::ModelConfig config = tinyLlama();
    config.ropeScaling.type = "linear";
    config.ropeScaling.factor = 4.0;
    return config;
}

inline sp::ModelConfig tinyQwen2()
{
    sp::ModelConfig config = tinyLlama();
    config.modelType = "qwen2";
    config.attentionBias = true;
    config.attentionOutputBias = false;
    config.ropeTheta = 1000000.0;
    config.tieWordEmbeddings = true;
    return config;
}

inline sp::ModelConfig tinyMistral()
{
    sp::ModelConfig config = tinyLlama();
    config.modelType = "mistral";
    config.numKeyValueHeads = 1;
    config.slidingWindow = 48;
    return config;
}

// Qwen3: per-head q/k RMSNorms, head_dim 16 with hidden 32 and 4 heads (head_dim ≠ hidden/heads).
inline sp::ModelConfig tinyQwen3()
{
    sp::ModelConfig config = tinyLlama();
    config.modelType = "qwen3";
    config.architecture = sp::Architecture::Qwen3;
    config.headDim = 16;
    config.ropeTheta = 1000000.0;
    config.tieWordEmbeddings = true;
    return config;
}

// Phi-3 with Phi-4-mini's partial rotation (6 of 8 dimensions rotate) and longrope over an original
// window of 16 positions, so that sequences past 16 switch to the long factors.
inline sp::ModelConfig tinyPhi3()
{
    sp::ModelConfig config = tinyLlama();
    config.modelType = "phi3";
    config.architecture = sp::Architecture::Phi3;
    config.numKeyValueHeads = 4;
    config.partialRotaryFactor = 0.75;
    config.ropeScaling.type = "longrope";
    config.ropeScaling.factor = 0.0; // derived: 128 / 16
    config.ropeScaling.originalMaxPositionEmbeddings = 16;
    config.ropeScaling.shortFactor = {1.0, 1.5, 3.0};
    config.ropeScaling.longFactor = {1.0, 4.0, 16.0};
    config.normEpsilon = 1e-5;
    return config;
}

// Gemma 2: head_dim 16 (≠ 32/4), query_pre_attn_scalar 12, small soft caps so that they bite,
// alternating sliding (window 32, wider than the invariant tests' sequences) and global layers.
inline sp::ModelConfig tinyGemma2()
{
    sp::ModelConfig config = tinyLlama();
    config.modelType = "gemma2";
    config.architecture = sp::Architecture::Gemma2;
    config.headDim = 16;
    config.activation = "gelu_pytorch_tanh";
    config.tieWordEmbeddings = true;
    config.queryPreAttnScalar = 12.0;
    config.attnLogitSoftcapping = 5.0;
    config.finalLogitSoftcapping = 3.0;
    config.slidingWindow = 32;
    config.layerTypes = {"sliding_attention", "full_attention"};
    config.bosTokenId = 2;
    config.eosTokenIds = {1};
    return config;
}

// Gemma 3 text: q/k norms, local RoPE base 1e4 and global 1e6 with linear scaling, 3 layers with
// the local:global pattern 2:1.
inline sp::ModelConfig tinyGemma3()
{
    sp::ModelConfig config = tinyGemma2();
    config.modelType = "gemma3_text";
    config.architecture = sp::Architecture::Gemma3;
    config.numLayers = 3;
    config.attnLogitSoftcapping = 0.0;
    config.finalLogitSoftcapping = 0.0;
    config.ropeTheta = 1000000.0;
    config.ropeLocalTheta = 10000.0;
    config.ropeScaling.type = "linear";
    config.ropeScaling.factor = 8.0;
    config.layerTypes = {"sliding_attention", "sliding_attention", "full_attention"};
    return config;
}

// Llama with yarn RoPE (Qwen2.5's long-context setting, scaled down).
inline sp::ModelConfig tinyYarnRope()
{
    sp::ModelConfig config = tinyLlama();
    config.headDim = 16;
    config.numHeads = 2;
    config.numKeyValueHeads = 1;
    config.ropeScaling.type = "yarn";
    config.ropeScaling.factor = 4.0;
    config.ropeScaling.originalMaxPositionEmbeddings = 32;
    return config;
}

inline sp::ModelConfig configNamed(const std::string& name)
{
    if (name == "qwen3")
        return tinyQwen3();
    if (name == "phi3")
        return tinyPhi3();
    if (name == "gemma2")
        return tinyGemma2();
    if (name == "gemma3")
        return tinyGemma3();
    if (name == "yarn-rope")
        return tinyYarnRope();
    if (name == "gpt2")
        return tinyGpt2();
    if (name == "llama")
        return tinyLlama();
    if (name == "llama3-rope")
        return tinyLlama3Rope();
    if (name == "linear-rope")
        return tinyLinearRope();
    if (name == "qwen2")
        return tinyQwen2();
    return tinyMistral();
}

inline const char* const allArchitectures[] = {"gpt2",    "llama", "llama3-rope", "linear-rope", "yarn-rope", "qwen2",
                                               "mistral", "qwen3", "phi3",        "gemma2",      "gemma3"};

// Weights large enough that logits are O(1), with random norms and biases so every path matters.
inline std::shared_ptr<sp::model::CausalLM> randomModel(const sp::ModelConfig& config, std::uint64_t seed = 7,
                                                        at::ScalarType dtype = at::kFloat)
{
    sp::model::RandomInit init;
    init.weightStd = 0.25;
    init.randomizeNormsAndBiases = true;
    return sp::model::CausalLM::createRandom(config, seed, at::kCPU, dtype, init);
}

inline at::Tensor randomIds(std::int64_t batch, std::int64_t length, std::int64_t vocab, std::uint64_t seed)
{
    at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(seed);
    return at::randint(vocab, {batch, length}, generator, at::kLong); // [B, T]
}

inline double maxAbsDiff(const at::Tensor& left, const at::Tensor& right)
{
    return (left.to(at::kDouble) - right.to(at::kDouble)).abs().max().item<double>();
}

inline double maxAbs(const at::Tensor& value)
{
    return value.to(at::kDouble).abs().max().item<double>();
}

} // namespace modeltest
