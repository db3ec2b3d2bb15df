#pragma once
// The numerical building blocks of the causal LMs, written to match Hugging Face transformers'
// conventions (modeling_gpt2.py, modeling_llama.py) operation for operation.
#include "model/rope.h"
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
// Gemma RMSNorm: everything in float32 (float64), scaled by (1 + weight), then cast back.
at::Tensor gemmaRmsNorm(const at::Tensor& input, const at::Tensor& weight, double epsilon);

// Which keys each new token may attend to, built once per forward and shared by every layer.
struct AttentionMask {
    at::Tensor allowed; // [B, 1, T, S] bool
    at::Tensor blocked; // [B, 1, T, S] bool, the complement
};

// Scaled dot-product attention with grouped key/value heads (query head h reads key/value head
// h / (H / Hkv), as repeat_kv does) without materialising the repeated keys.
//   queries [B, H, T, Dh], keys and values [B, Hkv, S, Dh] (the last T keys are the queries' own).
// Softmax runs in float32 for half-precision models. `softcap` > 0 (Gemma 2) bounds the scaled
// scores by softcap * tanh(score / softcap) before masking. Returns [B, H, T, Dh].
at::Tensor groupedAttention(const at::Tensor& queries, const at::Tensor& keys, const at::Tensor& values,
                            const AttentionMask& mask, double scale, double softcap = 0.0);

// The same attention when the first P keys are a prefix that every row shares and that is stored once:
//   sharedKeys, sharedValues [1, Hkv, P, Dh] (read in place, never repeated per row),
//   keys, values [B, Hkv, S, Dh] each row's own keys after the prefix (the last T its queries'),
//   mask over [P + S] keys. Each query row's scores against the prefix come from one matrix product
// per key/value head over all rows of the batch. Returns [B, H, T, Dh].
at::Tensor groupedAttentionWithSharedPrefix(const at::Tensor& queries, const at::Tensor& sharedKeys,
                                            const at::Tensor& sharedValues, const at::Tensor& keys,
                                            const at::Tensor& values, const AttentionMask& mask, double scale,
                                            double softcap = 0.0);

// input [N, in] (float32) times a float16/bfloat16 weight that stays in half precision in memory:
// [out, in] (nn.Linear) or, with conv1dLayout, [in, out] (GPT-2's Conv1D). The weight is converted to
// the input's dtype in blocks of at most 16 MB of output columns, so no float32 copy of a whole matrix
// (the 2 GB head of a 128k vocabulary) ever exists, and the backward converts again instead of keeping
// the float32 blocks alive until then. Frozen weights only (no weight gradient). Returns [N, out].
at::Tensor linearConverted(const at::Tensor& input, const at::Tensor& weight, bool conv1dLayout);

} // namespace sp::model
