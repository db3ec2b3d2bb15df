#pragma once
// Pieces that several model families share: projections, the KV-cache join, grouped-query self
// attention with RoPE (and optional per-head norms, soft-capping, a sliding window) and the gated MLP.
#include "model/family.h"

#include <optional>

namespace sp::model {

// input [N, in] times weight [out, in] transposed, plus bias: [N, out].
at::Tensor project(const at::Tensor& input, const at::Tensor& weight, const at::Tensor& bias = {});
// The same for GPT-2's Conv1D layout, weight [in, out].
at::Tensor conv1d(const at::Tensor& input, const at::Tensor& weight, const at::Tensor& bias);
// Joins the past with the new keys/values [B, Hkv, T, Dh] and records them in the output cache.
void joinPast(const LayerContext& context, at::Tensor& keys, at::Tensor& values);
// queries [B, H, T, Dh] against [the shared prefix,] past and new keys [B, Hkv, S, Dh] under `mask`:
// groupedAttention, or groupedAttentionWithSharedPrefix when the context has a shared prefix.
at::Tensor attend(const LayerContext& context, const at::Tensor& queries, const at::Tensor& keys,
                  const at::Tensor& values, const AttentionMask& mask, double scale, double softcap = 0.0);
// A cache entry for batch 1 expanded to `batch` rows without copying.
at::Tensor pastFor(const at::Tensor& past, std::int64_t batch);

enum class HeadNorm { None, Llama, Gemma };

struct AttentionSettings {
    double scale = 1.0;            // multiplies q·k
    double softcap = 0.0;          // Gemma 2's attention soft-capping (0 = off)
    bool sliding = false;          // use context.slidingMask
    std::size_t rotaryIndex = 0;   // which of context.rotary
    HeadNorm headNorm = HeadNorm::None; // q_norm/k_norm over each head before RoPE
    double normEpsilon = 1e-6;
};

// Self-attention with fused or separate q/k/v projections (Llama layout [out, in]):
// hidden [B*T, d] -> [B*T, d] after o_proj.
at::Tensor selfAttention(const CausalLM::Impl& model, const DecoderLayer& layer, const at::Tensor& hidden,
                         const LayerContext& context, const AttentionSettings& settings);
// down(act(gate(x)) * up(x)) with fused or separate gate/up: [B*T, d] -> [B*T, d].
at::Tensor gatedMlp(const CausalLM::Impl& model, const DecoderLayer& layer, const at::Tensor& hidden);
// The pre-norm layer of Llama, Qwen2/3, Mistral and Phi-3: h + attn(norm(h)), then + mlp(norm(.)),
// both RMSNorms with config.normEpsilon. [B*T, d] -> [B*T, d].
at::Tensor preNormDecoderLayer(const CausalLM::Impl& model, const DecoderLayer& layer, const at::Tensor& hidden,
                               const LayerContext& context, const AttentionSettings& settings);
// Whether layer `index` attends within the sliding window (config.layerTypes, else every layer when
// a window is set).
bool isSlidingLayer(const ModelConfig& config, std::size_t index);

} // namespace sp::model

namespace sp::model {

// Appends a weight slot.
void addSlot(std::vector<ParameterSlot>& slots, std::string name, at::Tensor* tensor,
             std::vector<std::int64_t> shape, InitKind init);
// q_proj, k_proj, v_proj (with biases when `qkvBias`), o_proj (bias when `outputBias`), in the
// order transformers saves them, under `base` ("model.layers.N.self_attn.").
void addAttentionProjections(const ModelConfig& config, DecoderLayer& layer, const std::string& base,
                             std::vector<ParameterSlot>& slots, bool qkvBias, bool outputBias);
// gate_proj, up_proj, down_proj (with biases when `bias`) under `base` ("model.layers.N.mlp.").
void addMlpProjections(const ModelConfig& config, DecoderLayer& layer, const std::string& base,
                       std::vector<ParameterSlot>& slots, bool bias);
// The final norm under `prefix` ("model."), then lm_head unless the embeddings are tied. Gemma's
// (1 + w) norms start from zeros, the others' from ones.
void addFinalNormAndHead(CausalLM::Impl& model, const std::string& prefix, std::vector<ParameterSlot>& slots,
                         InitKind normInit);

} // namespace sp::model

namespace sp::model {

// Gemma 2 and Gemma 3 (modeling_gemma2.py, modeling_gemma3.py): (1 + w) RMSNorms before and after
// both attention and the MLP, attention scaled by query_pre_attn_scalar^-0.5, sliding-window layers
// per config.layerTypes, optional attention soft-capping.
void addGemmaParameters(CausalLM::Impl& model, std::vector<ParameterSlot>& slots, bool headNorms);
at::Tensor gemmaDecoderLayer(const CausalLM::Impl& model, std::size_t index, const at::Tensor& hidden,
                             const LayerContext& context, bool headNorms, std::size_t rotaryIndex);
// logits -> cap * tanh(logits / cap) when config.finalLogitSoftcapping > 0.
at::Tensor softcapLogits(const ModelConfig& config, const at::Tensor& logits);

} // namespace sp::model
