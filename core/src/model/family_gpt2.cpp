// GPT-2 (transformers' modeling_gpt2.py): learned positions, pre-LayerNorm blocks with biases,
// Conv1D weights [in, out], gelu_new MLP, head tied to wte.
#include "model/decoder_blocks.h"

#include "softprompt/error.h"

#include <cmath>

namespace sp::model {

namespace {

class Gpt2Family : public ModelFamily {
public:
    std::string weightPrefix() const override { return "transformer."; }
    std::string defaultActivation() const override { return "gelu_new"; }

    void validate(const ModelConfig& c) const override
    {
        const std::string name = "the " + c.modelType + " config";
        if (c.numHeads * c.headDim != c.hiddenSize || c.numKeyValueHeads != c.numHeads)
            throw Error(name + ": n_embd " + std::to_string(c.hiddenSize) + " is not n_head " +
                        std::to_string(c.numHeads) + " × head size " + std::to_string(c.headDim));
        if (c.scaleAttnByInverseLayerIdx)
            throw Error(name + " sets scale_attn_by_inverse_layer_idx, which the workbench does not implement");
    }

    std::vector<RopeParameters> ropes(const ModelConfig& /*config*/) const override { return {}; }

    void addParameters(CausalLM::Impl& model, std::vector<ParameterSlot>& slots) const override
    {
        const ModelConfig& config = model.config;
        const std::int64_t d = config.hiddenSize;
        const std::int64_t inner = config.intermediateSize;
        const std::string prefix = weightPrefix();
        auto add = [&slots](std::string name, at::Tensor* tensor, std::vector<std::int64_t> shape, InitKind init,
                            bool residual = false) {
            slots.push_back(ParameterSlot{std::move(name), tensor, std::move(shape), init, residual});
        };
        add(prefix + "wte.weight", &model.tokenEmbedding, {config.vocabSize, d}, InitKind::Normal);
        add(prefix + "wpe.weight", &model.positionEmbedding, {config.maxPositionEmbeddings, d}, InitKind::Normal);
        for (std::size_t index = 0; index < model.layers.size(); ++index) {
            DecoderLayer& layer = model.layers[index];
            const std::string base = prefix + "h." + std::to_string(index) + ".";
            add(base + "ln_1.weight", &layer.inputNormWeight, {d}, InitKind::Ones);
            add(base + "ln_1.bias", &layer.inputNormBias, {d}, InitKind::Zeros);
            add(base + "attn.c_attn.weight", &layer.attentionWeight, {d, 3 * d}, InitKind::Normal);
            add(base + "attn.c_attn.bias", &layer.attentionBias, {3 * d}, InitKind::Zeros);
            add(base + "attn.c_proj.weight", &layer.attentionOutWeight, {d, d}, InitKind::Normal, true);
            add(base + "attn.c_proj.bias", &layer.attentionOutBias, {d}, InitKind::Zeros);
            add(base + "ln_2.weight", &layer.postNormWeight, {d}, InitKind::Ones);
            add(base + "ln_2.bias", &layer.postNormBias, {d}, InitKind::Zeros);
            add(base + "mlp.c_fc.weight", &layer.fcWeight, {d, inner}, InitKind::Normal);
            add(base + "mlp.c_fc.bias", &layer.fcBias, {inner}, InitKind::Zeros);
            add(base + "mlp.c_proj.weight", &layer.mlpOutWeight, {inner, d}, InitKind::Normal, true);
            add(base + "mlp.c_proj.bias", &layer.mlpOutBias, {d}, InitKind::Zeros);
        }
        add(prefix + "ln_f.weight", &model.finalNormWeight, {d}, InitKind::Ones);
        add(prefix + "ln_f.bias", &model.finalNormBias, {d}, InitKind::Zeros);
    }

    at::Tensor inputHidden(const CausalLM::Impl& model, const at::Tensor& embeds,
                           const at::Tensor& positions) const override
    {
        const at::Tensor hidden = embeds + at::embedding(model.positionEmbedding, positions); // [B, T, d]
        return hidden.reshape({-1, model.config.hiddenSize});                                // [B*T, d]
    }

    at::Tensor layer(const CausalLM::Impl& model, std::size_t index, const at::Tensor& hidden,
                     const LayerContext& context) const override
    {
        const DecoderLayer& layer = model.layers[index];
        const at::Tensor normed = norm(model, hidden, layer.inputNormWeight, layer.inputNormBias);
        const at::Tensor attended = hidden + attention(model, layer, normed, context);
        const at::Tensor normedAgain = norm(model, attended, layer.postNormWeight, layer.postNormBias);
        const at::Tensor inner =
            applyActivation(model.activation, conv1d(normedAgain, layer.fcWeight, layer.fcBias)); // [B*T, I]
        return attended + conv1d(inner, layer.mlpOutWeight, layer.mlpOutBias);                   // [B*T, d]
    }

    at::Tensor finalNorm(const CausalLM::Impl& model, const at::Tensor& hidden) const override
    {
        return norm(model, hidden, model.finalNormWeight, model.finalNormBias);
    }

    void fuse(CausalLM::Impl& /*model*/) const override {}   // c_attn is already fused
    void unfuse(CausalLM::Impl& /*model*/) const override {}
    bool headTied(const ModelConfig& /*config*/) const override { return true; } // GPT2LMHeadModel always ties

    bool isBufferName(const std::string& name) const override
    {
        // The causal-mask buffers that older GPT-2 checkpoints carry.
        for (const std::string suffix : {".attn.bias", ".attn.masked_bias"})
            if (name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
                return true;
        return false;
    }

private:
    static at::Tensor norm(const CausalLM::Impl& model, const at::Tensor& hidden, const at::Tensor& weight,
                           const at::Tensor& bias)
    {
        return at::layer_norm(hidden, {model.config.hiddenSize}, weight, bias, model.config.normEpsilon);
    }

    static at::Tensor attention(const CausalLM::Impl& model, const DecoderLayer& layer, const at::Tensor& hidden,
                                const LayerContext& context)
    {
        const std::int64_t heads = model.config.numHeads;
        const std::int64_t headDim = model.config.headDim;
        const at::Tensor qkv = conv1d(hidden, layer.attentionWeight, layer.attentionBias) // [B*T, 3d]
                                   .view({context.batch, context.length, 3, heads, headDim})
                                   .permute({2, 0, 3, 1, 4}); // [3, B, H, T, Dh]
        const at::Tensor queries = qkv[0];                    // [B, H, T, Dh]
        at::Tensor keys = qkv[1];                             // [B, H, T, Dh]
        at::Tensor values = qkv[2];                           // [B, H, T, Dh]
        joinPast(context, keys, values);
        const at::Tensor attended = attend(context, queries, keys, values, *context.mask,
                                           1.0 / std::sqrt(double(headDim))); // [B, H, T, Dh]
        const at::Tensor merged =
            attended.transpose(1, 2).reshape({context.batch * context.length, heads * headDim});
        return conv1d(merged, layer.attentionOutWeight, layer.attentionOutBias); // [B*T, d]
    }
};

} // namespace

const ModelFamily& gpt2Family()
{
    static const Gpt2Family family;
    return family;
}

} // namespace sp::model
