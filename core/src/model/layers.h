#pragma once
// The numerical building blocks of the causal LMs, written to match Hugging Face transformers'
// conventions (modeling_gpt2.py, modeling_llama.py) operation for operation.
#include "softprompt/model_config.h"
#include "torch_common.h"

#include <string>

namespace sp::model {

enum class Activation { GeluTanh, GeluExact, Silu, Relu, QuickGelu };

// Maps a config.json activation name ("gelu_new", "silu", ...) to the function; throws sp::Error
// naming the supported ones.
Activation activationFromName(const std::string& name, const std::string& modelType);
at::Tensor applyActivation(Activation activation, const at::Tensor& input);

// Llama RMSNorm: the statistics are computed in float32 (float64 for a float64 model) and the
// normalised value is cast back to the input dtype before the weight multiplies it.
at::Tensor rmsNorm(const at::Tensor& input, const at::Tensor& weight, double epsilon);

// RoPE inverse frequencies [Dh/2] float32 on CPU, with the config's scaling (default, linear,
// llama3) applied exactly as transformers' modeling_rope_utils computes them.
at::Tensor ropeInverseFrequencies(const ModelConfig& config);

// Rotary position embedding tables for the given positions.
struct RotaryTables {
    at::Tensor cos; // [B, 1, T, Dh/2] in the model dtype
    at::Tensor sin; // [B, 1, T, Dh/2]
};
// `inverseFrequencies` [Dh/2] float32; `positions` [B, T] int64.
RotaryTables rotaryTables(const at::Tensor& inverseFrequencies, const at::Tensor& positions,
                          at::ScalarType dtype);
// The rotate_half convention: the first and second halves of each head are the pair rotated together.
// `heads` [B, H, T, Dh] -> [B, H, T, Dh] contiguous.
at::Tensor applyRotary(const at::Tensor& heads, const RotaryTables& tables);

// Which keys each new token may attend to, built once per forward and shared by every layer.
struct AttentionMask {
    at::Tensor allowed; // [B, 1, T, S] bool
    at::Tensor blocked; // [B, 1, T, S] bool, the complement
};

// Scaled dot-product attention with grouped key/value heads (query head h reads key/value head
// h / (H / Hkv), as repeat_kv does) without materialising the repeated keys.
//   queries [B, H, T, Dh], keys and values [B, Hkv, S, Dh] (the last T keys are the queries' own).
// Softmax runs in float32 for half-precision models. Returns [B, H, T, Dh].
at::Tensor groupedAttention(const at::Tensor& queries, const at::Tensor& keys, const at::Tensor& values,
                            const AttentionMask& mask, double scale);

} // namespace sp::model
