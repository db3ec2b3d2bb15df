// RoPE frequencies written from the formulas of transformers' modeling_rope_utils.py (transformers 5),
// each step in the same precision: float32 tensors where transformers uses tensors, double where it
// uses Python floats.
#include "model/rope.h"

#include "softprompt/error.h"

#include <algorithm>
#include <cmath>

namespace sp::model {

namespace {

// arange(0, dim, 2) / dim in float32: the exponents of the base.
at::Tensor exponents(std::int64_t dim)
{
    return at::arange(0, dim, 2, at::kLong).to(at::kFloat) / dim; // [dim/2]
}

at::Tensor defaultInverse(double base, std::int64_t dim)
{
    return at::pow(base, exponents(dim)).reciprocal(); // [dim/2]
}

at::Tensor llama3Inverse(const RopeParameters& p)
{
    const RopeScaling& scaling = p.scaling;
    const at::Tensor inverse = defaultInverse(p.theta, p.rotaryDims);
    const double original = double(scaling.originalMaxPositionEmbeddings);
    if (original <= 0 || scaling.highFreqFactor == scaling.lowFreqFactor)
        throw Error("llama3 rope_scaling needs original_max_position_embeddings > 0 and "
                    "high_freq_factor != low_freq_factor; check config.json");
    const double lowFrequencyWavelength = original / scaling.lowFreqFactor;
    const double highFrequencyWavelength = original / scaling.highFreqFactor;
    const at::Tensor wavelength = inverse.reciprocal() * (2.0 * M_PI); // [R/2]
    // Long wavelengths are divided by the factor, short ones kept, the band between interpolated.
    const at::Tensor divided =
        at::where(wavelength > lowFrequencyWavelength, inverse / scaling.factor, inverse); // [R/2]
    const at::Tensor smooth = (wavelength.reciprocal() * original - scaling.lowFreqFactor) /
                              (scaling.highFreqFactor - scaling.lowFreqFactor);             // [R/2]
    const at::Tensor smoothed = (1 - smooth) * divided / scaling.factor + smooth * divided; // [R/2]
    const at::Tensor isMedium = (wavelength < highFrequencyWavelength).logical_not() &
                                (wavelength > lowFrequencyWavelength).logical_not(); // [R/2]
    return at::where(isMedium, smoothed, divided);
}

double yarnMscale(double scale, double mscale)
{
    return scale <= 1 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0;
}

RopeFrequencies yarn(const RopeParameters& p)
{
    const RopeScaling& scaling = p.scaling;
    const double base = p.theta;
    const std::int64_t dim = p.rotaryDims;
    const double factor = scaling.factor;
    const double original = double(scaling.originalMaxPositionEmbeddings > 0 ? scaling.originalMaxPositionEmbeddings
                                                                             : p.maxPositions);
    RopeFrequencies out;
    if (scaling.attentionFactor)
        out.attentionScaling = *scaling.attentionFactor;
    else if (scaling.mscale != 0 && scaling.mscaleAllDim != 0)
        out.attentionScaling = yarnMscale(factor, scaling.mscale) / yarnMscale(factor, scaling.mscaleAllDim);
    else
        out.attentionScaling = yarnMscale(factor, 1.0);
    // The dimension at which a frequency makes `rotations` turns over the original window.
    auto correctionDim = [&](double rotations) {
        return (double(dim) * std::log(original / (rotations * 2.0 * M_PI))) / (2.0 * std::log(base));
    };
    double low = correctionDim(scaling.betaFast);
    double high = correctionDim(scaling.betaSlow);
    if (scaling.truncate) {
        low = std::floor(low);
        high = std::ceil(high);
    }
    low = std::max(low, 0.0);
    high = std::min(high, double(dim - 1));
    if (low == high)
        high += 0.001; // as transformers: no zero-width ramp
    const at::Tensor positionFrequencies = at::pow(base, at::arange(0, dim, 2).to(at::kFloat) / dim); // [R/2]
    const at::Tensor extrapolation = positionFrequencies.reciprocal();                               // [R/2]
    const at::Tensor interpolation = (positionFrequencies * factor).reciprocal();                    // [R/2]
    const at::Tensor ramp = ((at::arange(dim / 2, at::kFloat) - low) / (high - low)).clamp(0, 1);    // [R/2]
    const at::Tensor extrapolationShare = 1 - ramp;
    out.inverse = interpolation * (1 - extrapolationShare) + extrapolation * extrapolationShare;
    return out;
}

RopeFrequencies longrope(const RopeParameters& p, std::int64_t sequenceLength)
{
    const RopeScaling& scaling = p.scaling;
    const double original = double(scaling.originalMaxPositionEmbeddings);
    // Phi-3 states no factor: the ratio of the extended window to the original one.
    const double factor = scaling.factor > 0 ? scaling.factor : double(p.maxPositions) / original;
    RopeFrequencies out;
    if (scaling.attentionFactor)
        out.attentionScaling = *scaling.attentionFactor;
    else
        out.attentionScaling = factor <= 1.0 ? 1.0 : std::sqrt(1.0 + std::log(factor) / std::log(original));
    const std::vector<double>& chosen = sequenceLength > original ? scaling.longFactor : scaling.shortFactor;
    if (std::int64_t(chosen.size()) != p.rotaryDims / 2)
        throw Error("longrope needs " + std::to_string(p.rotaryDims / 2) + " factors, found " +
                    std::to_string(chosen.size()) + "; check config.json's rope_scaling");
    const at::Tensor extension = at::tensor(chosen, at::kDouble).to(at::kFloat); // [R/2]
    out.inverse = (extension * at::pow(p.theta, exponents(p.rotaryDims))).reciprocal();
    return out;
}

} // namespace

RopeParameters ropeParameters(const ModelConfig& config)
{
    RopeParameters parameters;
    parameters.theta = config.ropeTheta;
    parameters.scaling = config.ropeScaling;
    parameters.rotaryDims = static_cast<std::int64_t>(double(config.headDim) * config.partialRotaryFactor);
    parameters.maxPositions = config.maxPositionEmbeddings;
    return parameters;
}

RopeFrequencies ropeFrequencies(const RopeParameters& p, std::int64_t sequenceLength)
{
    const std::string& type = p.scaling.type;
    RopeFrequencies out;
    if (type == "default") {
        out.inverse = defaultInverse(p.theta, p.rotaryDims);
    } else if (type == "linear") {
        out.inverse = defaultInverse(p.theta, p.rotaryDims) / p.scaling.factor;
    } else if (type == "llama3") {
        out.inverse = llama3Inverse(p);
    } else if (type == "dynamic") {
        // NTK-aware base growth past the window; within it (all the workbench runs) the base is unchanged.
        const double length = double(std::max(sequenceLength, p.maxPositions));
        const double factor = p.scaling.factor;
        const double dim = double(p.rotaryDims);
        const double base =
            p.theta * std::pow(factor * length / double(p.maxPositions) - (factor - 1.0), dim / (dim - 2.0));
        out.inverse = defaultInverse(base, p.rotaryDims);
    } else if (type == "yarn") {
        out = yarn(p);
    } else if (type == "longrope") {
        out = longrope(p, sequenceLength);
    } else {
        throw Error("rope_scaling type \"" + type +
                    "\" is not implemented; supported: default, linear, llama3, dynamic, yarn, longrope");
    }
    return out;
}

at::Tensor ropeInverseFrequencies(const ModelConfig& config)
{
    return ropeFrequencies(ropeParameters(config), config.maxPositionEmbeddings).inverse;
}

RotaryTables rotaryTables(const at::Tensor& inverseFrequencies, const at::Tensor& positions,
                          at::ScalarType dtype, double attentionScaling)
{
    // The angles are products of two float32 values, as in transformers' float32 matmul with k = 1.
    const at::Tensor angles = positions.to(at::kFloat).unsqueeze(-1) * inverseFrequencies; // [B, T, R/2]
    RotaryTables tables;
    at::Tensor cos = angles.cos();
    at::Tensor sin = angles.sin();
    if (attentionScaling != 1.0) {
        cos = cos * attentionScaling;
        sin = sin * attentionScaling;
    }
    tables.cos = cos.to(dtype).unsqueeze(1); // [B, 1, T, R/2]
    tables.sin = sin.to(dtype).unsqueeze(1); // [B, 1, T, R/2]
    return tables;
}

at::Tensor applyRotary(const at::Tensor& heads, const RotaryTables& tables)
{
    const std::int64_t half = tables.cos.size(-1);
    const std::int64_t headDim = heads.size(-1);
    const at::Tensor rotated = headDim == 2 * half ? heads : heads.narrow(-1, 0, 2 * half);
    const std::vector<at::Tensor> pair = rotated.split(half, -1); // [B, H, T, R/2] each
    const at::Tensor& first = pair[0];
    const at::Tensor& second = pair[1];
    // x * cos + rotate_half(x) * sin, with rotate_half(x) = (-second, first).
    std::vector<at::Tensor> parts{first * tables.cos - second * tables.sin, second * tables.cos + first * tables.sin};
    if (headDim != 2 * half)
        parts.push_back(heads.narrow(-1, 2 * half, headDim - 2 * half)); // the part that does not rotate
    return at::cat(parts, -1).contiguous();
}

RotaryEmbedding::RotaryEmbedding(const RopeParameters& parameters, at::Device device) : parameters_(parameters)
{
    const RopeFrequencies within = ropeFrequencies(parameters, parameters.maxPositions);
    withinWindow_ = within.inverse.to(device);
    scalingWithin_ = within.attentionScaling;
    if (parameters.scaling.type == "longrope") {
        const RopeFrequencies shortFrequencies =
            ropeFrequencies(parameters, parameters.scaling.originalMaxPositionEmbeddings);
        const RopeFrequencies longFrequencies =
            ropeFrequencies(parameters, parameters.scaling.originalMaxPositionEmbeddings + 1);
        withinWindow_ = shortFrequencies.inverse.to(device);
        scalingWithin_ = shortFrequencies.attentionScaling;
        beyondWindow_ = longFrequencies.inverse.to(device);
        scalingBeyond_ = longFrequencies.attentionScaling;
    }
}

RotaryTables RotaryEmbedding::tables(const at::Tensor& positions, std::int64_t lastPosition,
                                     at::ScalarType dtype) const
{
    // longrope: the long factors once the sequence (largest position + 1) passes the original window.
    if (beyondWindow_.defined() && lastPosition + 1 > parameters_.scaling.originalMaxPositionEmbeddings)
        return rotaryTables(beyondWindow_, positions, dtype, scalingBeyond_);
    return rotaryTables(withinWindow_, positions, dtype, scalingWithin_);
}

} // namespace sp::model
