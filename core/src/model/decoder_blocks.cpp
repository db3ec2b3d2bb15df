#include "model/decoder_blocks.h"

#include "softprompt/error.h"

#include <cmath>

namespace sp::model {

namespace {

at::Tensor catDefined(const std::vector<at::Tensor>& parts)
{
    return parts.front().defined() ? at::cat(parts, 0) : at::Tensor();
}

at::Tensor headNorm(HeadNorm kind, const at::Tensor& heads, const at::Tensor& weight, double epsilon)
{
    switch (kind) {
    case HeadNorm::Llama:
        return rmsNorm(heads, weight, epsilon);
    case HeadNorm::Gemma:
        return gemmaRmsNorm(heads, weight, epsilon);
    case HeadNorm::None:
        break;
    }
    return heads;
}

} // namespace

at::Tensor project(const at::Tensor& input, const at::Tensor& weight, const at::Tensor& bias)
{
    if (weight.scalar_type() != input.scalar_type()) { // half-precision weights, float32 compute
        const at::Tensor product = linearConverted(input, weight, /*conv1dLayout=*/false);
        return bias.defined() ? product + bias : product;
    }
    // A single row goes through GEMV, which streams the weight once; GEMM would first pack all of
    // it (3x slower when decoding).
    if (input.size(0) == 1) {
        const at::Tensor row = at::mv(weight, input[0]); // [out]
        return (bias.defined() ? row + bias : row).unsqueeze(0);
    }
    return bias.defined() ? at::linear(input, weight, bias) : at::linear(input, weight);
}

at::Tensor conv1d(const at::Tensor& input, const at::Tensor& weight, const at::Tensor& bias)
{
    if (weight.scalar_type() != input.scalar_type())
        return linearConverted(input, weight, /*conv1dLayout=*/true) + bias;
    if (input.size(0) == 1)
        return (at::mv(weight.t(), input[0]) + bias).unsqueeze(0);
    return at::addmm(bias, input, weight);
}

at::Tensor pastFor(const at::Tensor& past, std::int64_t batch)
{
    return past.size(0) == batch ? past : past.expand({batch, -1, -1, -1});
}

void joinPast(const LayerContext& context, at::Tensor& keys, at::Tensor& values)
{
    if (context.pastKeys) {
        keys = at::cat({pastFor(*context.pastKeys, context.batch), keys}, 2);       // [B, Hkv, S, Dh]
        values = at::cat({pastFor(*context.pastValues, context.batch), values}, 2); // [B, Hkv, S, Dh]
    } else {
        keys = keys.contiguous();
        values = values.contiguous();
    }
    if (context.cacheOut) {
        context.cacheOut->keys.push_back(keys);
        context.cacheOut->values.push_back(values);
        if (context.sharedKeys) { // the same tensors, not a copy
            context.cacheOut->sharedKeys.push_back(*context.sharedKeys);
            context.cacheOut->sharedValues.push_back(*context.sharedValues);
        }
    }
}

at::Tensor attend(const LayerContext& context, const at::Tensor& queries, const at::Tensor& keys,
                  const at::Tensor& values, const AttentionMask& mask, double scale, double softcap)
{
    if (context.sharedKeys)
        return groupedAttentionWithSharedPrefix(queries, *context.sharedKeys, *context.sharedValues, keys, values,
                                                mask, scale, softcap);
    return groupedAttention(queries, keys, values, mask, scale, softcap);
}

bool isSlidingLayer(const ModelConfig& config, std::size_t index)
{
    if (!config.slidingWindow)
        return false;
    if (config.layerTypes.empty())
        return true;
    return index < config.layerTypes.size() && config.layerTypes[index] == "sliding_attention";
}

at::Tensor selfAttention(const CausalLM::Impl& model, const DecoderLayer& layer, const at::Tensor& hidden,
                         const LayerContext& context, const AttentionSettings& settings)
{
    const ModelConfig& config = model.config;
    const std::int64_t heads = config.numHeads;
    const std::int64_t kvHeads = config.numKeyValueHeads;
    const std::int64_t headDim = config.headDim;
    at::Tensor projected; // [B*T, (H + 2 Hkv) * Dh]
    if (layer.qkvWeight.defined())
        projected = project(hidden, layer.qkvWeight, layer.qkvBias);
    else
        projected = project(hidden, at::cat({layer.qWeight, layer.kWeight, layer.vWeight}, 0),
                            catDefined({layer.qBias, layer.kBias, layer.vBias}));
    // split (not narrow): its backward concatenates the gradients instead of zero-filling a full
    // tensor per slice.
    const std::vector<at::Tensor> parts =
        projected.view({context.batch, context.length, heads + 2 * kvHeads, headDim})
            .split_with_sizes({heads, kvHeads, kvHeads}, 2); // [B, T, H|Hkv|Hkv, Dh]
    const at::Tensor queryHeads = headNorm(settings.headNorm, parts[0], layer.qNormWeight, settings.normEpsilon);
    const at::Tensor keyHeads = headNorm(settings.headNorm, parts[1], layer.kNormWeight, settings.normEpsilon);
    const RotaryTables& rotary = (*context.rotary)[settings.rotaryIndex];
    const at::Tensor queries = applyRotary(queryHeads.transpose(1, 2), rotary); // [B, H, T, Dh]
    at::Tensor keys = applyRotary(keyHeads.transpose(1, 2), rotary);            // [B, Hkv, T, Dh]
    at::Tensor values = parts[2].transpose(1, 2);                               // [B, Hkv, T, Dh]
    joinPast(context, keys, values);
    const AttentionMask& mask = settings.sliding ? *context.slidingMask : *context.mask;
    const at::Tensor attended =
        attend(context, queries, keys, values, mask, settings.scale, settings.softcap); // [B, H, T, Dh]
    const at::Tensor merged =
        attended.transpose(1, 2).reshape({context.batch * context.length, heads * headDim});
    return project(merged, layer.oWeight, layer.oBias); // [B*T, d]
}

at::Tensor preNormDecoderLayer(const CausalLM::Impl& model, const DecoderLayer& layer, const at::Tensor& hidden,
                               const LayerContext& context, const AttentionSettings& settings)
{
    const double epsilon = model.config.normEpsilon;
    const at::Tensor attended =
        hidden + selfAttention(model, layer, rmsNorm(hidden, layer.inputNormWeight, epsilon), context, settings);
    return attended + gatedMlp(model, layer, rmsNorm(attended, layer.postNormWeight, epsilon));
}

at::Tensor gatedMlp(const CausalLM::Impl& model, const DecoderLayer& layer, const at::Tensor& hidden)
{
    const std::int64_t inner = model.config.intermediateSize;
    at::Tensor gateUp; // [B*T, 2 I]
    if (layer.gateUpWeight.defined())
        gateUp = project(hidden, layer.gateUpWeight, layer.gateUpBias);
    else
        gateUp = project(hidden, at::cat({layer.gateWeight, layer.upWeight}, 0),
                         catDefined({layer.gateBias, layer.upBias}));
    const std::vector<at::Tensor> halves = gateUp.split(inner, 1);                     // [B*T, I] each
    const at::Tensor gated = applyActivation(model.activation, halves[0]) * halves[1]; // [B*T, I]
    return project(gated, layer.downWeight, layer.downBias);                           // [B*T, d]
}

} // namespace sp::model

namespace sp::model {

void addSlot(std::vector<ParameterSlot>& slots, std::string name, at::Tensor* tensor,
             std::vector<std::int64_t> shape, InitKind init)
{
    slots.push_back(ParameterSlot{std::move(name), tensor, std::move(shape), init, false});
}

void addFinalNormAndHead(CausalLM::Impl& model, const std::string& prefix, std::vector<ParameterSlot>& slots,
                         InitKind normInit)
{
    const ModelConfig& config = model.config;
    addSlot(slots, prefix + "norm.weight", &model.finalNormWeight, {config.hiddenSize}, normInit);
    if (!config.tieWordEmbeddings)
        addSlot(slots, "lm_head.weight", &model.lmHead, {config.vocabSize, config.hiddenSize}, InitKind::Normal);
}

void addAttentionProjections(const ModelConfig& config, DecoderLayer& layer, const std::string& base,
                             std::vector<ParameterSlot>& slots, bool qkvBias, bool outputBias)
{
    const std::int64_t d = config.hiddenSize;
    const std::int64_t queryWidth = config.numHeads * config.headDim;
    const std::int64_t kvWidth = config.numKeyValueHeads * config.headDim;
    addSlot(slots, base + "q_proj.weight", &layer.qWeight, {queryWidth, d}, InitKind::Normal);
    addSlot(slots, base + "k_proj.weight", &layer.kWeight, {kvWidth, d}, InitKind::Normal);
    addSlot(slots, base + "v_proj.weight", &layer.vWeight, {kvWidth, d}, InitKind::Normal);
    if (qkvBias) {
        addSlot(slots, base + "q_proj.bias", &layer.qBias, {queryWidth}, InitKind::Zeros);
        addSlot(slots, base + "k_proj.bias", &layer.kBias, {kvWidth}, InitKind::Zeros);
        addSlot(slots, base + "v_proj.bias", &layer.vBias, {kvWidth}, InitKind::Zeros);
    }
    addSlot(slots, base + "o_proj.weight", &layer.oWeight, {d, queryWidth}, InitKind::Normal);
    if (outputBias)
        addSlot(slots, base + "o_proj.bias", &layer.oBias, {d}, InitKind::Zeros);
}

void addMlpProjections(const ModelConfig& config, DecoderLayer& layer, const std::string& base,
                       std::vector<ParameterSlot>& slots, bool bias)
{
    const std::int64_t d = config.hiddenSize;
    const std::int64_t inner = config.intermediateSize;
    addSlot(slots, base + "gate_proj.weight", &layer.gateWeight, {inner, d}, InitKind::Normal);
    addSlot(slots, base + "up_proj.weight", &layer.upWeight, {inner, d}, InitKind::Normal);
    addSlot(slots, base + "down_proj.weight", &layer.downWeight, {d, inner}, InitKind::Normal);
    if (bias) {
        addSlot(slots, base + "gate_proj.bias", &layer.gateBias, {inner}, InitKind::Zeros);
        addSlot(slots, base + "up_proj.bias", &layer.upBias, {inner}, InitKind::Zeros);
        addSlot(slots, base + "down_proj.bias", &layer.downBias, {d}, InitKind::Zeros);
    }
}

} // namespace sp::model

namespace sp::model {

void addGemmaParameters(CausalLM::Impl& model, std::vector<ParameterSlot>& slots, bool headNorms)
{
    const ModelConfig& config = model.config;
    const std::int64_t d = config.hiddenSize;
    const std::string prefix = "model.";
    // Gemma norms multiply by (1 + w): w = 0 is the identity, as transformers initialises them.
    addSlot(slots, prefix + "embed_tokens.weight", &model.tokenEmbedding, {config.vocabSize, d}, InitKind::Normal);
    for (std::size_t index = 0; index < model.layers.size(); ++index) {
        DecoderLayer& layer = model.layers[index];
        const std::string base = prefix + "layers." + std::to_string(index) + ".";
        addAttentionProjections(config, layer, base + "self_attn.", slots, config.attentionBias,
                                config.attentionOutputBias);
        if (headNorms) {
            addSlot(slots, base + "self_attn.q_norm.weight", &layer.qNormWeight, {config.headDim}, InitKind::Zeros);
            addSlot(slots, base + "self_attn.k_norm.weight", &layer.kNormWeight, {config.headDim}, InitKind::Zeros);
        }
        addMlpProjections(config, layer, base + "mlp.", slots, false);
        addSlot(slots, base + "input_layernorm.weight", &layer.inputNormWeight, {d}, InitKind::Zeros);
        addSlot(slots, base + "post_attention_layernorm.weight", &layer.postNormWeight, {d}, InitKind::Zeros);
        addSlot(slots, base + "pre_feedforward_layernorm.weight", &layer.preFeedforwardNormWeight, {d},
                InitKind::Zeros);
        addSlot(slots, base + "post_feedforward_layernorm.weight", &layer.postFeedforwardNormWeight, {d},
                InitKind::Zeros);
    }
    addFinalNormAndHead(model, prefix, slots, InitKind::Zeros);
}

at::Tensor gemmaDecoderLayer(const CausalLM::Impl& model, std::size_t index, const at::Tensor& hidden,
                             const LayerContext& context, bool headNorms, std::size_t rotaryIndex)
{
    const ModelConfig& config = model.config;
    const DecoderLayer& layer = model.layers[index];
    const double epsilon = config.normEpsilon;
    AttentionSettings settings;
    settings.scale = std::pow(config.queryPreAttnScalar > 0 ? config.queryPreAttnScalar : double(config.headDim), -0.5);
    settings.softcap = config.attnLogitSoftcapping;
    settings.sliding = isSlidingLayer(config, index);
    settings.rotaryIndex = rotaryIndex;
    settings.headNorm = headNorms ? HeadNorm::Gemma : HeadNorm::None;
    settings.normEpsilon = epsilon;
    const at::Tensor attention =
        selfAttention(model, layer, gemmaRmsNorm(hidden, layer.inputNormWeight, epsilon), context, settings);
    const at::Tensor attended = hidden + gemmaRmsNorm(attention, layer.postNormWeight, epsilon); // [B*T, d]
    const at::Tensor mlp = gatedMlp(model, layer, gemmaRmsNorm(attended, layer.preFeedforwardNormWeight, epsilon));
    return attended + gemmaRmsNorm(mlp, layer.postFeedforwardNormWeight, epsilon); // [B*T, d]
}

at::Tensor softcapLogits(const ModelConfig& config, const at::Tensor& logits)
{
    const double cap = config.finalLogitSoftcapping;
    return cap > 0 ? at::tanh(logits / cap) * cap : logits;
}

} // namespace sp::model
