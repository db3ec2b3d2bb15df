// What model families share by default, and the table that picks one for a config.
#include "model/family.h"

#include "softprompt/error.h"

#include <algorithm>

namespace sp::model {

namespace {

// Replaces `parts` by slices of one concatenated matrix (dim 0), returning it.
at::Tensor fuseRows(std::vector<at::Tensor*> parts)
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

void ModelFamily::validate(const ModelConfig& config) const
{
    const std::int64_t rotaryDims = ropeParameters(config).rotaryDims;
    if (rotaryDims <= 0 || rotaryDims % 2 != 0)
        throw Error("the " + config.modelType + " config: head_dim " + std::to_string(config.headDim) +
                    " gives " + std::to_string(rotaryDims) + " rotary dimensions, which RoPE cannot pair");
}

std::vector<RopeParameters> ModelFamily::ropes(const ModelConfig& config) const
{
    return {ropeParameters(config)};
}

at::Tensor ModelFamily::inputHidden(const CausalLM::Impl& model, const at::Tensor& embeds,
                                    const at::Tensor& /*positions*/) const
{
    return embeds.reshape({-1, model.config.hiddenSize}); // [B*T, d]
}

at::Tensor ModelFamily::embedTokens(const CausalLM::Impl& model, const at::Tensor& ids) const
{
    return at::embedding(model.tokenEmbedding, ids); // [B, T, d]
}

at::Tensor ModelFamily::finalNorm(const CausalLM::Impl& model, const at::Tensor& hidden) const
{
    return rmsNorm(hidden, model.finalNormWeight, model.config.normEpsilon);
}

at::Tensor ModelFamily::finishLogits(const CausalLM::Impl& /*model*/, const at::Tensor& logits) const
{
    return logits;
}

void ModelFamily::fuse(CausalLM::Impl& model) const
{
    for (DecoderLayer& layer : model.layers) {
        layer.qkvWeight = fuseRows({&layer.qWeight, &layer.kWeight, &layer.vWeight});
        layer.qkvBias = fuseRows({&layer.qBias, &layer.kBias, &layer.vBias});
        layer.gateUpWeight = fuseRows({&layer.gateWeight, &layer.upWeight});
        layer.gateUpBias = fuseRows({&layer.gateBias, &layer.upBias});
        if (model.onLayerFused)
            model.onLayerFused(layer);
    }
}

void ModelFamily::unfuse(CausalLM::Impl& model) const
{
    for (DecoderLayer& layer : model.layers) {
        separate({&layer.qWeight, &layer.kWeight, &layer.vWeight, &layer.qBias, &layer.kBias, &layer.vBias,
                  &layer.gateWeight, &layer.upWeight, &layer.gateBias, &layer.upBias});
        layer.qkvWeight = layer.qkvBias = layer.gateUpWeight = layer.gateUpBias = at::Tensor();
    }
}

bool ModelFamily::isBufferName(const std::string& name) const
{
    // Older transformers saved the RoPE frequencies as a buffer.
    const std::string suffix = "rotary_emb.inv_freq";
    return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

const ModelFamily& familyFor(Architecture architecture)
{
    switch (architecture) {
    case Architecture::Gpt2:
        return gpt2Family();
    case Architecture::Llama:
        return llamaFamily();
    case Architecture::Qwen3:
        return qwen3Family();
    case Architecture::Phi3:
        return phi3Family();
    case Architecture::Gemma2:
        return gemma2Family();
    case Architecture::Gemma3:
        return gemma3Family();
    }
    throw Error("unknown model architecture");
}

std::int64_t longestSequence(const ModelConfig& config)
{
    if (config.slidingWindow && !familyFor(config.architecture).masksSlidingWindow())
        return std::min(config.maxPositionEmbeddings, *config.slidingWindow);
    return config.maxPositionEmbeddings;
}

} // namespace sp::model
