#pragma once
// Rotary position embeddings: the inverse frequencies of every RoPE type transformers knows
// (modeling_rope_utils.py: default, linear, llama3, dynamic, yarn, longrope), the cos/sin tables for
// a forward call and the rotation itself (rotate_half convention, optionally on part of each head).
#include "softprompt/model_config.h"
#include "torch_common.h"

namespace sp::model {

// One RoPE: its base, scaling and the number of dimensions of each head it rotates.
struct RopeParameters {
    double theta = 10000.0;
    RopeScaling scaling;
    std::int64_t rotaryDims = 0;   // int(head_dim * partial_rotary_factor)
    std::int64_t maxPositions = 0; // max_position_embeddings
};

// The global RoPE of a config (rope_theta, rope_scaling, partial_rotary_factor).
RopeParameters ropeParameters(const ModelConfig& config);

struct RopeFrequencies {
    at::Tensor inverse;            // [rotaryDims / 2] float32 on the CPU
    double attentionScaling = 1.0; // multiplies cos and sin (yarn, longrope)
};
// The frequencies for sequences of `sequenceLength` tokens (only dynamic and longrope depend on it).
RopeFrequencies ropeFrequencies(const RopeParameters& parameters, std::int64_t sequenceLength);

// The config's global RoPE frequencies at its window length [rotaryDims / 2] (tests compare them).
at::Tensor ropeInverseFrequencies(const ModelConfig& config);

struct RotaryTables {
    at::Tensor cos; // [B, 1, T, R/2] in the model dtype, R = rotary dimensions
    at::Tensor sin; // [B, 1, T, R/2]
};
// `inverseFrequencies` [R/2] float32; `positions` [B, T] int64.
RotaryTables rotaryTables(const at::Tensor& inverseFrequencies, const at::Tensor& positions,
                          at::ScalarType dtype, double attentionScaling = 1.0);
// The rotate_half convention: the first and second halves of the rotated part are the pair rotated
// together; dimensions past the tables' 2 * (R/2) pass unchanged (partial rotary).
// `heads` [B, H, T, Dh] -> [B, H, T, Dh] contiguous.
at::Tensor applyRotary(const at::Tensor& heads, const RotaryTables& tables);

// A prepared RoPE on a device: the frequencies are computed once; longrope keeps both sets and picks
// per call from the largest position, as transformers' dynamic update does.
class RotaryEmbedding {
public:
    RotaryEmbedding() = default;
    RotaryEmbedding(const RopeParameters& parameters, at::Device device);
    // `lastPosition`: the largest position id in `positions`.
    RotaryTables tables(const at::Tensor& positions, std::int64_t lastPosition, at::ScalarType dtype) const;

private:
    RopeParameters parameters_;
    at::Tensor withinWindow_; // [R/2] on the device
    at::Tensor beyondWindow_; // longrope's long factors; undefined otherwise
    double scalingWithin_ = 1.0;
    double scalingBeyond_ = 1.0;
};

} // namespace sp::model
