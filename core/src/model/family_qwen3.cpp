// Qwen3 (modeling_qwen3.py): Llama's layout plus an RMSNorm over each query and key head (q_norm,
// k_norm) before RoPE; attention_bias applies to q/k/v and o_proj alike.
#include "model/decoder_blocks.h"

#include <cmath>

namespace sp::model {

namespace {

class Qwen3Family : public ModelFamily {
public:
    void addParameters(CausalLM::Impl& model, std::vector<ParameterSlot>& slots) const override
    {
        const ModelConfig& config = model.config;
        const std::int64_t d = config.hiddenSize;
        const std::string prefix = weightPrefix();
        addSlot(slots, prefix + "embed_tokens.weight", &model.tokenEmbedding, {config.vocabSize, d}, InitKind::Normal);
        for (std::size_t index = 0; index < model.layers.size(); ++index) {
            DecoderLayer& layer = model.layers[index];
            const std::string base = prefix + "layers." + std::to_string(index) + ".";
            addSlot(slots, base + "input_layernorm.weight", &layer.inputNormWeight, {d}, InitKind::Ones);
            addAttentionProjections(config, layer, base + "self_attn.", slots, config.attentionBias,
                                    config.attentionOutputBias);
            addSlot(slots, base + "self_attn.q_norm.weight", &layer.qNormWeight, {config.headDim}, InitKind::Ones);
            addSlot(slots, base + "self_attn.k_norm.weight", &layer.kNormWeight, {config.headDim}, InitKind::Ones);
            addSlot(slots, base + "post_attention_layernorm.weight", &layer.postNormWeight, {d}, InitKind::Ones);
            addMlpProjections(config, layer, base + "mlp.", slots, false);
        }
        addFinalNormAndHead(model, prefix, slots, InitKind::Ones);
    }

    at::Tensor layer(const CausalLM::Impl& model, std::size_t index, const at::Tensor& hidden,
                     const LayerContext& context) const override
    {
        const DecoderLayer& layer = model.layers[index];
        AttentionSettings settings;
        settings.scale = std::pow(double(model.config.headDim), -0.5);
        settings.headNorm = HeadNorm::Llama;
        settings.normEpsilon = model.config.normEpsilon;
        return preNormDecoderLayer(model, layer, hidden, context, settings);
    }
};

} // namespace

const ModelFamily& qwen3Family()
{
    static const Qwen3Family family;
    return family;
}

} // namespace sp::model
