// Phi-3, Phi-3.5 and Phi-4-mini (modeling_phi3.py): Llama's maths with q/k/v fused in one qkv_proj
// and gate/up in one gate_up_proj as stored, RoPE on the first partial_rotary_factor of each head
// (Phi-4-mini), longrope, and every layer attending within sliding_window when one is set.
#include "model/decoder_blocks.h"

#include <cmath>

namespace sp::model {

namespace {

class Phi3Family : public ModelFamily {
public:
    void addParameters(CausalLM::Impl& model, std::vector<ParameterSlot>& slots) const override
    {
        const ModelConfig& config = model.config;
        const std::int64_t d = config.hiddenSize;
        const std::int64_t inner = config.intermediateSize;
        const std::int64_t qkvRows = (config.numHeads + 2 * config.numKeyValueHeads) * config.headDim;
        const std::string prefix = weightPrefix();
        addSlot(slots, prefix + "embed_tokens.weight", &model.tokenEmbedding, {config.vocabSize, d}, InitKind::Normal);
        for (std::size_t index = 0; index < model.layers.size(); ++index) {
            DecoderLayer& layer = model.layers[index];
            const std::string base = prefix + "layers." + std::to_string(index) + ".";
            addSlot(slots, base + "self_attn.o_proj.weight", &layer.oWeight, {d, config.numHeads * config.headDim},
                    InitKind::Normal);
            addSlot(slots, base + "self_attn.qkv_proj.weight", &layer.qkvWeight, {qkvRows, d}, InitKind::Normal);
            addSlot(slots, base + "mlp.gate_up_proj.weight", &layer.gateUpWeight, {2 * inner, d}, InitKind::Normal);
            addSlot(slots, base + "mlp.down_proj.weight", &layer.downWeight, {d, inner}, InitKind::Normal);
            addSlot(slots, base + "input_layernorm.weight", &layer.inputNormWeight, {d}, InitKind::Ones);
            addSlot(slots, base + "post_attention_layernorm.weight", &layer.postNormWeight, {d}, InitKind::Ones);
        }
        addFinalNormAndHead(model, prefix, slots, InitKind::Ones);
    }

    at::Tensor layer(const CausalLM::Impl& model, std::size_t index, const at::Tensor& hidden,
                     const LayerContext& context) const override
    {
        const DecoderLayer& layer = model.layers[index];
        AttentionSettings settings;
        settings.scale = std::pow(double(model.config.headDim), -0.5);
        settings.sliding = isSlidingLayer(model.config, index);
        return preNormDecoderLayer(model, layer, hidden, context, settings);
    }

    // The checkpoint's fused matrices are the weights themselves, frozen or trainable.
    void fuse(CausalLM::Impl& /*model*/) const override {}
    void unfuse(CausalLM::Impl& /*model*/) const override {}
    bool masksSlidingWindow() const override { return true; }
};

} // namespace

const ModelFamily& phi3Family()
{
    static const Phi3Family family;
    return family;
}

} // namespace sp::model
