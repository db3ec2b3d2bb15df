#pragma once
#include "softprompt/model_config.h"

#include <cstdint>
#include <string>

namespace sp {

// The sizes every family's config needs: what a benchmark preset, a test model or the demo model
// chooses, where a checkpoint's config.json would give them.
struct ModelShape {
    std::int64_t vocabSize = 0;
    std::int64_t hiddenSize = 0;
    std::int64_t intermediateSize = 0;
    std::int64_t numLayers = 0;
    std::int64_t numHeads = 0;
    std::int64_t numKeyValueHeads = 0;
    std::int64_t headDim = 0;
    std::int64_t maxPositionEmbeddings = 0;
};

// The one way code builds a config without a config.json (benchmark presets, the demo pretrainer,
// the tests' tiny models): `modelType`'s family, `shape`, and the family's activation (gelu_new for
// gpt2, gelu_pytorch_tanh for gemma2 and gemma3_text, silu for the others). Every other field keeps
// ModelConfig's default; the caller sets what differs (a tied head, the norm epsilon, RoPE, biases,
// token ids). Throws sp::Error for a model_type that no family runs.
ModelConfig shapedModelConfig(const std::string& modelType, const ModelShape& shape);

} // namespace sp
