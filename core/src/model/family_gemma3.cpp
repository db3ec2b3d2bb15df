// The Gemma 3 text model (modeling_gemma3.py, Gemma3ForCausalLM): Gemma 2's layer with (1 + w)
// q_norm/k_norm on each head, local layers rotating with rope_local_base_freq and global ones with
// rope_theta and rope_scaling, sliding_window_pattern - 1 local layers per global one. The √d
// embedding scale belongs to the token embedding (Gemma3TextScaledWordEmbedding): inputs_embeds
// given directly are not scaled again, so a soft prompt lives in the scaled space.
#include "model/decoder_blocks.h"

#include <cmath>

namespace sp::model {

namespace {

constexpr std::size_t globalRope = 0;
constexpr std::size_t localRope = 1;

class Gemma3Family : public ModelFamily {
public:
    std::string defaultActivation() const override { return "gelu_pytorch_tanh"; }

    void addParameters(CausalLM::Impl& model, std::vector<ParameterSlot>& slots) const override
    {
        addGemmaParameters(model, slots, /*headNorms=*/true);
    }

    std::vector<RopeParameters> ropes(const ModelConfig& config) const override
    {
        RopeParameters global = ropeParameters(config);
        RopeParameters local = global;
        local.theta = config.ropeLocalTheta > 0 ? config.ropeLocalTheta : 10000.0;
        local.scaling = RopeScaling{}; // the local RoPE is never scaled
        return {global, local};
    }

    double embedScale(const CausalLM::Impl& model) const override
    {
        // embed_scale is a float32 buffer cast to the weight dtype before it multiplies.
        return at::scalar_tensor(std::sqrt(double(model.config.hiddenSize)), at::kFloat)
            .to(model.tokenEmbedding.dtype())
            .item<double>();
    }

    at::Tensor embedTokens(const CausalLM::Impl& model, const at::Tensor& ids) const override
    {
        // embedScale() is exact in the weight dtype, so this is the same product as transformers'.
        const at::Tensor scale = at::scalar_tensor(embedScale(model), model.tokenEmbedding.dtype());
        return at::embedding(model.tokenEmbedding, ids) * scale; // [B, T, d]
    }

    at::Tensor layer(const CausalLM::Impl& model, std::size_t index, const at::Tensor& hidden,
                     const LayerContext& context) const override
    {
        const std::size_t rope = isSlidingLayer(model.config, index) ? localRope : globalRope;
        return gemmaDecoderLayer(model, index, hidden, context, /*headNorms=*/true, rope);
    }

    at::Tensor finalNorm(const CausalLM::Impl& model, const at::Tensor& hidden) const override
    {
        return gemmaRmsNorm(hidden, model.finalNormWeight, model.config.normEpsilon);
    }

    at::Tensor finishLogits(const CausalLM::Impl& model, const at::Tensor& logits) const override
    {
        return softcapLogits(model.config, logits);
    }

    bool masksSlidingWindow() const override { return true; }
};

} // namespace

const ModelFamily& gemma3Family()
{
    static const Gemma3Family family;
    return family;
}

} // namespace sp::model
