// The weight layout of each architecture: names, shapes, initialisation and the fused frozen form.
#include "model/causal_lm_impl.h"

#include "softprompt/error.h"

namespace sp::model {

namespace {

std::string number(std::int64_t value)
{
    return std::to_string(value);
}

// Replaces `parts` by slices of one concatenated matrix (dim 0), returning it.
at::Tensor fuse(std::vector<at::Tensor*> parts)
{
    if (!parts.front()->defined())
        return {};
    std::vector<at::Tensor> values;
    for (at::Tensor* part : parts)
        values.push_back(*part);
    at::Tensor fused = at::cat(values, 0);
    std::int64_t offset = 0;
    for (at::Tensor* part : parts) {
        const std::int64_t rows = part->size(0);
        *part = fused.narrow(0, offset, rows);
        offset += rows;
    }
    return fused;
}

void separate(std::vector<at::Tensor*> parts)
{
    for (at::Tensor* part : parts)
        if (part->defined())
            *part = part->clone();
}

} // namespace

std::string weightPrefix(const ModelConfig& config)
{
    return config.architecture == Architecture::Gpt2 ? "transformer." : "model.";
}

bool CausalLM::Impl::hasQkvBias() const
{
    return config.attentionBias || config.modelType == "qwen2";
}

void CausalLM::Impl::validateConfig() const
{
    const ModelConfig& c = config;
    const std::string name = "the " + (c.modelType.empty() ? std::string("model") : c.modelType) + " config";
    if (c.vocabSize <= 0 || c.hiddenSize <= 0 || c.numLayers <= 0 || c.numHeads <= 0 || c.headDim <= 0 ||
        c.intermediateSize <= 0 || c.maxPositionEmbeddings <= 0 || c.numKeyValueHeads <= 0)
        throw Error(name + " has a non-positive size (vocab " + number(c.vocabSize) + ", hidden " +
                    number(c.hiddenSize) + ", layers " + number(c.numLayers) + ", heads " +
                    number(c.numHeads) + ", kv heads " + number(c.numKeyValueHeads) + ", head dim " +
                    number(c.headDim) + ", intermediate " + number(c.intermediateSize) + ", positions " +
                    number(c.maxPositionEmbeddings) + "); check config.json");
    if (c.numHeads % c.numKeyValueHeads != 0)
        throw Error(name + ": num_attention_heads " + number(c.numHeads) +
                    " is not a multiple of num_key_value_heads " + number(c.numKeyValueHeads));
    if (c.architecture == Architecture::Gpt2) {
        if (c.numHeads * c.headDim != c.hiddenSize || c.numKeyValueHeads != c.numHeads)
            throw Error(name + ": n_embd " + number(c.hiddenSize) + " is not n_head " + number(c.numHeads) +
                        " × head size " + number(c.headDim));
        if (c.scaleAttnByInverseLayerIdx)
            throw Error(name +
                        " sets scale_attn_by_inverse_layer_idx, which the workbench does not implement");
    } else if (c.headDim % 2 != 0) {
        throw Error(name + ": head_dim " + number(c.headDim) +
                    " is odd, so rotary embeddings cannot pair it");
    }
}

void CausalLM::Impl::prepare()
{
    if (device.is_cpu() && (dtype == at::kHalf || dtype == at::kBFloat16))
        throw Error("float16/bfloat16 weights need a CUDA device; use float32 on the CPU");
    layers.assign(std::size_t(config.numLayers), DecoderLayer{});
    activation = activationFromName(
        config.activation.empty() ? (isGpt2() ? "gelu_new" : "silu") : config.activation, config.modelType);
    if (!isGpt2())
        inverseFrequencies = ropeInverseFrequencies(config).to(device);
}

std::vector<ParameterSlot> CausalLM::Impl::parameterSlots()
{
    const std::int64_t d = config.hiddenSize;
    const std::int64_t inner = config.intermediateSize;
    const std::int64_t vocab = config.vocabSize;
    const std::string prefix = weightPrefix(config);
    std::vector<ParameterSlot> slots;
    auto add = [&slots](std::string name, at::Tensor* tensor, std::vector<std::int64_t> shape, InitKind init,
                        bool residual = false) {
        slots.push_back(ParameterSlot{std::move(name), tensor, std::move(shape), init, residual});
    };
    if (isGpt2()) {
        add(prefix + "wte.weight", &tokenEmbedding, {vocab, d}, InitKind::Normal);
        add(prefix + "wpe.weight", &positionEmbedding, {config.maxPositionEmbeddings, d}, InitKind::Normal);
        for (std::size_t index = 0; index < layers.size(); ++index) {
            DecoderLayer& layer = layers[index];
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
        add(prefix + "ln_f.weight", &finalNormWeight, {d}, InitKind::Ones);
        add(prefix + "ln_f.bias", &finalNormBias, {d}, InitKind::Zeros);
        return slots;
    }
    const std::int64_t queryWidth = config.numHeads * config.headDim;
    const std::int64_t kvWidth = config.numKeyValueHeads * config.headDim;
    add(prefix + "embed_tokens.weight", &tokenEmbedding, {vocab, d}, InitKind::Normal);
    for (std::size_t index = 0; index < layers.size(); ++index) {
        DecoderLayer& layer = layers[index];
        const std::string base = prefix + "layers." + std::to_string(index) + ".";
        add(base + "input_layernorm.weight", &layer.inputNormWeight, {d}, InitKind::Ones);
        add(base + "self_attn.q_proj.weight", &layer.qWeight, {queryWidth, d}, InitKind::Normal);
        add(base + "self_attn.k_proj.weight", &layer.kWeight, {kvWidth, d}, InitKind::Normal);
        add(base + "self_attn.v_proj.weight", &layer.vWeight, {kvWidth, d}, InitKind::Normal);
        if (hasQkvBias()) {
            add(base + "self_attn.q_proj.bias", &layer.qBias, {queryWidth}, InitKind::Zeros);
            add(base + "self_attn.k_proj.bias", &layer.kBias, {kvWidth}, InitKind::Zeros);
            add(base + "self_attn.v_proj.bias", &layer.vBias, {kvWidth}, InitKind::Zeros);
        }
        add(base + "self_attn.o_proj.weight", &layer.oWeight, {d, queryWidth}, InitKind::Normal);
        if (config.attentionOutputBias)
            add(base + "self_attn.o_proj.bias", &layer.oBias, {d}, InitKind::Zeros);
        add(base + "post_attention_layernorm.weight", &layer.postNormWeight, {d}, InitKind::Ones);
        add(base + "mlp.gate_proj.weight", &layer.gateWeight, {inner, d}, InitKind::Normal);
        add(base + "mlp.up_proj.weight", &layer.upWeight, {inner, d}, InitKind::Normal);
        add(base + "mlp.down_proj.weight", &layer.downWeight, {d, inner}, InitKind::Normal);
        if (config.mlpBias) {
            add(base + "mlp.gate_proj.bias", &layer.gateBias, {inner}, InitKind::Zeros);
            add(base + "mlp.up_proj.bias", &layer.upBias, {inner}, InitKind::Zeros);
            add(base + "mlp.down_proj.bias", &layer.downBias, {d}, InitKind::Zeros);
        }
    }
    add(prefix + "norm.weight", &finalNormWeight, {d}, InitKind::Ones);
    if (!config.tieWordEmbeddings)
        add("lm_head.weight", &lmHead, {vocab, d}, InitKind::Normal);
    return slots;
}

void CausalLM::Impl::fuseProjections()
{
    if (trainable || isGpt2())
        return;
    for (DecoderLayer& layer : layers) {
        layer.qkvWeight = fuse({&layer.qWeight, &layer.kWeight, &layer.vWeight});
        layer.qkvBias = fuse({&layer.qBias, &layer.kBias, &layer.vBias});
        layer.gateUpWeight = fuse({&layer.gateWeight, &layer.upWeight});
        layer.gateUpBias = fuse({&layer.gateBias, &layer.upBias});
    }
}

void CausalLM::Impl::unfuseProjections()
{
    for (DecoderLayer& layer : layers) {
        separate({&layer.qWeight, &layer.kWeight, &layer.vWeight, &layer.qBias, &layer.kBias, &layer.vBias,
                  &layer.gateWeight, &layer.upWeight, &layer.gateBias, &layer.upBias});
        layer.qkvWeight = layer.qkvBias = layer.gateUpWeight = layer.gateUpBias = at::Tensor();
    }
}

void CausalLM::Impl::tieHead()
{
    // GPT2LMHeadModel always ties its head to wte.
    if (isGpt2() || config.tieWordEmbeddings)
        lmHead = tokenEmbedding;
}

} // namespace sp::model
