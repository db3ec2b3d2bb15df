#pragma once
// CausalLM's weights and their Hugging Face names, shared by the forward pass (causal_lm.cpp), the
// model families (family_*.cpp) and loading/saving (model_io.cpp).
#include "model/causal_lm.h"
#include "model/layers.h"

#include <functional>
#include <string>
#include <vector>

namespace sp::model {

struct DecoderLayer {
    // Norms: GPT-2 ln_1/ln_2 (weight and bias), Llama input_layernorm/post_attention_layernorm.
    at::Tensor inputNormWeight, inputNormBias; // [d]
    at::Tensor postNormWeight, postNormBias;   // [d]

    // GPT-2, in Conv1D layout [in, out].
    at::Tensor attentionWeight, attentionBias;       // c_attn [d, 3d], [3d]
    at::Tensor attentionOutWeight, attentionOutBias; // attn.c_proj [d, d], [d]
    at::Tensor fcWeight, fcBias;                     // mlp.c_fc [d, I], [I]
    at::Tensor mlpOutWeight, mlpOutBias;             // mlp.c_proj [I, d], [d]

    // Llama family, in nn.Linear layout [out, in]. While the model is frozen, q/k/v and gate/up are
    // views into the fused matrices below, so one GEMM serves them; trainable weights are separate
    // leaves and the fused matrices are undefined.
    at::Tensor qWeight, kWeight, vWeight; // [H*Dh, d], [Hkv*Dh, d], [Hkv*Dh, d]
    at::Tensor qBias, kBias, vBias;       // [H*Dh], [Hkv*Dh], [Hkv*Dh] (Qwen2, attention_bias)
    at::Tensor oWeight, oBias;            // [d, H*Dh], [d]
    at::Tensor gateWeight, upWeight;      // [I, d]
    at::Tensor gateBias, upBias;          // [I] (mlp_bias)
    at::Tensor downWeight, downBias;      // [d, I], [d]
    at::Tensor qkvWeight, qkvBias;        // fused [(H + 2 Hkv) * Dh, d], [(H + 2 Hkv) * Dh]
    at::Tensor gateUpWeight, gateUpBias;  // fused [2 I, d], [2 I]

    // Per-head RMSNorms on queries and keys before RoPE (Qwen3, Gemma 3).
    at::Tensor qNormWeight, kNormWeight; // [Dh]
    // Gemma: norms after attention (post_attention_layernorm, with postNormWeight above) and around
    // the MLP (pre_feedforward_layernorm, post_feedforward_layernorm).
    at::Tensor preFeedforwardNormWeight, postFeedforwardNormWeight; // [d]
};

enum class InitKind { Normal, Zeros, Ones };

struct ParameterSlot {
    std::string name; // Hugging Face name with the usual prefix ("transformer." / "model.")
    at::Tensor* tensor = nullptr;
    std::vector<std::int64_t> shape;
    InitKind init = InitKind::Normal;
    bool residualProjection = false; // GPT-2 scales these by 1/sqrt(2 * layers) at initialisation
};

class ModelFamily;

struct CausalLM::Impl {
    ModelConfig config;
    at::Device device = at::kCPU;
    at::ScalarType dtype = at::kFloat;       // activations, norms and biases (compute dtype)
    at::ScalarType weightDtype = at::kFloat; // matrices (2-D weights) as stored in memory
    // Keeps memory-mapped safetensors files alive while weights alias them; copy-on-write mappings.
    bool weightsMapped = false;
    // Called by the family's fuse() after each layer's projections are fused (loading releases the
    // mapped pages the copies read).
    std::function<void(DecoderLayer&)> onLayerFused;
    Activation activation = Activation::GeluTanh;
    bool trainable = false;
    const ModelFamily* family = nullptr; // the forward maths and weight names (family.h)

    at::Tensor tokenEmbedding;                 // [V, d]
    at::Tensor positionEmbedding;              // GPT-2 wpe [maxPositions, d]
    at::Tensor finalNormWeight, finalNormBias; // [d]
    at::Tensor lmHead;                         // [V, d]; the same tensor as tokenEmbedding when tied
    std::vector<DecoderLayer> layers;
    // RoPE, prepared on the device: [0] the global one; Gemma 3 adds [1] for its local layers.
    std::vector<RotaryEmbedding> rotary;

    // Every weight in file order; the pointers stay valid while `layers` is not resized.
    std::vector<ParameterSlot> parameterSlots();

    void validateConfig() const; // throws sp::Error for unsupported settings
    void prepare();              // picks the family, sizes `layers`, sets activation and RoPE
    void fuseProjections();      // frozen layout: q/k/v and gate/up share one matrix
    // The dtype a weight of this shape is kept in: weightDtype for matrices, dtype for vectors.
    at::ScalarType storageDtype(const std::vector<std::int64_t>& shape) const
    {
        return shape.size() >= 2 ? weightDtype : dtype;
    }
    // Sets dtype and weightDtype from the requested dtype and HalfCompute; throws sp::Error for
    // combinations the device cannot run.
    void choosePrecision(at::ScalarType requested, HalfCompute compute);
    void unfuseProjections();    // trainable layout: separate leaves
    void tieHead();
};

// "transformer." for GPT-2, "model." for the others.
std::string weightPrefix(const ModelConfig& config);

} // namespace sp::model
