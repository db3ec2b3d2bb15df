// The weight layout shared by all families: the checks every config passes, the family's slots,
// the fused frozen form and the tied head.
#include "model/causal_lm_impl.h"
#include "model/family.h"

#include "softprompt/error.h"

namespace sp::model {

namespace {

std::string number(std::int64_t value)
{
    return std::to_string(value);
}

} // namespace

std::string weightPrefix(const ModelConfig& config)
{
    return familyFor(config.architecture).weightPrefix();
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
    if (!c.layerTypes.empty() && std::int64_t(c.layerTypes.size()) != c.numLayers)
        throw Error(name + ": layer_types has " + number(std::int64_t(c.layerTypes.size())) + " entries for " +
                    number(c.numLayers) + " layers");
    familyFor(c.architecture).validate(c);
}

HalfCompute halfComputeFromName(const std::string& name)
{
    if (name.empty() || name == "auto")
        return HalfCompute::Auto;
    if (name == "native")
        return HalfCompute::Native;
    if (name == "float32" || name == "fp32")
        return HalfCompute::Float32;
    throw Error("unknown half-precision compute mode \"" + name + "\"; use auto, native or float32");
}

void CausalLM::Impl::choosePrecision(at::ScalarType requested, HalfCompute compute)
{
    weightDtype = requested;
    dtype = requested;
    const bool half = requested == at::kHalf || requested == at::kBFloat16;
    if (!half)
        return;
    if (compute == HalfCompute::Auto)
        compute = device.is_cpu() ? HalfCompute::Float32 : HalfCompute::Native;
    if (compute == HalfCompute::Float32) {
        dtype = at::kFloat;
        return;
    }
    if (device.is_cpu() && requested == at::kHalf)
        throw Error(
            "float16 matrix products are not implemented on the CPU; keep float16 weights with float32 "
            "compute (the default) or use bfloat16",
            Remedy::UseFloat32Compute);
}

void CausalLM::Impl::prepare()
{
    family = &familyFor(config.architecture);
    layers.assign(std::size_t(config.numLayers), DecoderLayer{});
    activation = activationFromName(config.activation.empty() ? family->defaultActivation() : config.activation,
                                    config.modelType);
    rotary.clear();
    for (const RopeParameters& parameters : family->ropes(config))
        rotary.emplace_back(parameters, device);
}

std::vector<ParameterSlot> CausalLM::Impl::parameterSlots()
{
    std::vector<ParameterSlot> slots;
    family->addParameters(*this, slots);
    return slots;
}

void CausalLM::Impl::fuseProjections()
{
    if (!trainable)
        family->fuse(*this);
}

void CausalLM::Impl::unfuseProjections()
{
    family->unfuse(*this);
}

void CausalLM::Impl::tieHead()
{
    if (family->headTied(config))
        lmHead = tokenEmbedding;
}

} // namespace sp::model
