// Llama, Mistral and Qwen2 (modeling_llama.py, modeling_mistral.py, modeling_qwen2.py): the same
// maths. RMSNorm before attention and MLP, grouped-query attention with RoPE, SwiGLU MLP. Qwen2 adds
// q/k/v biases; Llama's attention_bias and mlp_bias add the others.
#include "model/decoder_blocks.h"

#include <cmath>

namespace sp::model {

namespace {

class LlamaFamily : public ModelFamily {
public:
    void addParameters(CausalLM::Impl& model, std::vector<ParameterSlot>& slots) const override
    {
        const ModelConfig& config = model.config;
        const std::int64_t d = config.hiddenSize;
        const std::string prefix = weightPrefix();
        addSlot(slots, prefix + "embed_tokens.weight", &model.tokenEmbedding, {config.vocabSize, d}, InitKind::Normal);
        const bool qkvBias = config.attentionBias || config.modelType == "qwen2";
        for (std::size_t index = 0; index < model.layers.size(); ++index) {
            DecoderLayer& layer = model.layers[index];
            const std::string base = prefix + "layers." + std::to_string(index) + ".";
            addSlot(slots, base + "input_layernorm.weight", &layer.inputNormWeight, {d}, InitKind::Ones);
            addAttentionProjections(config, layer, base + "self_attn.", slots, qkvBias, config.attentionOutputBias);
            addSlot(slots, base + "post_attention_layernorm.weight", &layer.postNormWeight, {d}, InitKind::Ones);
            addMlpProjections(config, layer, base + "mlp.", slots, config.mlpBias);
        }
        addFinalNormAndHead(model, prefix, slots, InitKind::Ones);
    }

    at::Tensor layer(const CausalLM::Impl& model, std::size_t index, const at::Tensor& hidden,
                     const LayerContext& context) const override
    {
        const DecoderLayer& layer = model.layers[index];
        AttentionSettings settings;
        settings.scale = std::pow(double(model.config.headDim), -0.5);
        return preNormDecoderLayer(model, layer, hidden, context, settings);
    }
};

} // namespace

const ModelFamily& llamaFamily()
{
    static const LlamaFamily family;
    return family;
}

} // namespace sp::model
