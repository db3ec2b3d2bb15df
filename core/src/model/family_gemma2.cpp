// Gemma 2 (modeling_gemma2.py): inputs_embeds scaled by √d (rounded to the model dtype, as
// transformers' normalizer tensor is), (1 + w) RMSNorm sandwiches, gelu_pytorch_tanh, attention
// scaled by query_pre_attn_scalar^-0.5 and soft-capped, local sliding-window layers alternating
// with global ones, and soft-capped final logits.
#include "model/decoder_blocks.h"

#include <cmath>

namespace sp::model {

namespace {

class Gemma2Family : public ModelFamily {
public:
    std::string defaultActivation() const override { return "gelu_pytorch_tanh"; }

    void addParameters(CausalLM::Impl& model, std::vector<ParameterSlot>& slots) const override
    {
        addGemmaParameters(model, slots, /*headNorms=*/false);
    }

    // Gemma2Model scales whatever embeddings it is given, so a soft prompt lives in the unscaled space.
    at::Tensor inputHidden(const CausalLM::Impl& model, const at::Tensor& embeds,
                           const at::Tensor& /*positions*/) const override
    {
        const at::Tensor normalizer =
            at::scalar_tensor(std::sqrt(double(model.config.hiddenSize)), embeds.options()); // model dtype
        return (embeds * normalizer).reshape({-1, model.config.hiddenSize});                // [B*T, d]
    }

    at::Tensor layer(const CausalLM::Impl& model, std::size_t index, const at::Tensor& hidden,
                     const LayerContext& context) const override
    {
        return gemmaDecoderLayer(model, index, hidden, context, /*headNorms=*/false, /*rotaryIndex=*/0);
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

const ModelFamily& gemma2Family()
{
    static const Gemma2Family family;
    return family;
}

} // namespace sp::model
