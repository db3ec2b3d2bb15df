#include "model/layers.h"

#include "softprompt/error.h"

#include <cmath>
#include <limits>

namespace sp::model {

Activation activationFromName(const std::string& name, const std::string& modelType)
{
    if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast")
        return Activation::GeluTanh;
    if (name == "gelu")
        return Activation::GeluExact;
    if (name == "silu" || name == "swish")
        return Activation::Silu;
    if (name == "relu")
        return Activation::Relu;
    if (name == "quick_gelu")
        return Activation::QuickGelu;
    throw Error("the " + modelType + " model uses the activation \"" + name +
                "\", which this workbench does not implement (supported: gelu_new, gelu_pytorch_tanh, "
                "gelu_fast, gelu, silu, swish, relu, quick_gelu)");
}

at::Tensor applyActivation(Activation activation, const at::Tensor& input)
{
    switch (activation) {
    case Activation::GeluTanh:
        return at::gelu(input, "tanh");
    case Activation::GeluExact:
        return at::gelu(input);
    case Activation::Silu:
        return at::silu(input);
    case Activation::Relu:
        return at::relu(input);
    case Activation::QuickGelu:
        return input * at::sigmoid(input * 1.702);
    }
    return input;
}

at::Tensor rmsNorm(const at::Tensor& input, const at::Tensor& weight, double epsilon)
{
    const at::ScalarType statisticsType = input.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
    const at::Tensor wide = input.to(statisticsType);                     // [..., d]
    const at::Tensor meanSquare = wide.pow(2).mean(-1, /*keepdim=*/true); // [..., 1]
    const at::Tensor normalised = wide * at::rsqrt(meanSquare + epsilon); // [..., d]
    return weight * normalised.to(input.scalar_type());
}

at::Tensor ropeInverseFrequencies(const ModelConfig& config)
{
    const std::int64_t dim = config.headDim;
    // base ** (arange(0, dim, 2) / dim), inverted: every step in float32 as transformers does it.
    const at::Tensor exponents = at::arange(0, dim, 2, at::kLong).to(at::kFloat) / dim; // [Dh/2]
    at::Tensor inverse = at::pow(config.ropeTheta, exponents).reciprocal();             // [Dh/2]
    const RopeScaling& scaling = config.ropeScaling;
    if (scaling.type == "default")
        return inverse;
    if (scaling.type == "linear")
        return inverse / scaling.factor;
    if (scaling.type == "llama3") {
        const double original = double(scaling.originalMaxPositionEmbeddings);
        if (original <= 0 || scaling.highFreqFactor == scaling.lowFreqFactor)
            throw Error("llama3 rope_scaling needs original_max_position_embeddings > 0 and "
                        "high_freq_factor != low_freq_factor; check config.json");
        const double lowFrequencyWavelength = original / scaling.lowFreqFactor;
        const double highFrequencyWavelength = original / scaling.highFreqFactor;
        const at::Tensor wavelength = inverse.reciprocal() * (2.0 * M_PI); // [Dh/2]
        // Long wavelengths are divided by the factor, short ones kept, the band between interpolated.
        const at::Tensor divided =
            at::where(wavelength > lowFrequencyWavelength, inverse / scaling.factor, inverse); // [Dh/2]
        const at::Tensor smooth = (wavelength.reciprocal() * original - scaling.lowFreqFactor) /
                                  (scaling.highFreqFactor - scaling.lowFreqFactor);             // [Dh/2]
        const at::Tensor smoothed = (1 - smooth) * divided / scaling.factor + smooth * divided; // [Dh/2]
        const at::Tensor isMedium = (wavelength < highFrequencyWavelength).logical_not() &
                                    (wavelength > lowFrequencyWavelength).logical_not(); // [Dh/2]
        return at::where(isMedium, smoothed, divided);
    }
    throw Error("rope_scaling type \"" + scaling.type + "\" (model_type " + config.modelType +
                ") is not implemented; supported: default, linear, llama3");
}

RotaryTables rotaryTables(const at::Tensor& inverseFrequencies, const at::Tensor& positions,
                          at::ScalarType dtype)
{
    // The angles are products of two float32 values, as in transformers' float32 matmul with k = 1.
    const at::Tensor angles = positions.to(at::kFloat).unsqueeze(-1) * inverseFrequencies; // [B, T, Dh/2]
    RotaryTables tables;
    tables.cos = angles.cos().to(dtype).unsqueeze(1); // [B, 1, T, Dh/2]
    tables.sin = angles.sin().to(dtype).unsqueeze(1); // [B, 1, T, Dh/2]
    return tables;
}

at::Tensor applyRotary(const at::Tensor& heads, const RotaryTables& tables)
{
    const std::int64_t half = heads.size(-1) / 2;
    const std::vector<at::Tensor> pair = heads.split(half, -1); // [B, H, T, Dh/2] each
    const at::Tensor& first = pair[0];
    const at::Tensor& second = pair[1];
    // x * cos + rotate_half(x) * sin, with rotate_half(x) = (-second, first).
    return at::cat({first * tables.cos - second * tables.sin, second * tables.cos + first * tables.sin}, -1)
        .contiguous();
}

namespace {

#if !(TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1))
// One block of query rows against the keys they can reach; see groupedAttention.
at::Tensor attendBlock(const at::Tensor& queries, const at::Tensor& keys, const at::Tensor& values,
                       const at::Tensor& blocked, double scale)
{
    const std::int64_t batch = queries.size(0);
    const std::int64_t heads = queries.size(1);
    const std::int64_t length = queries.size(2);
    const std::int64_t headDim = queries.size(3);
    const std::int64_t kvHeads = keys.size(1);
    const std::int64_t span = keys.size(2);
    const std::int64_t group = heads / kvHeads;
    // Query heads that share a key/value head become extra rows of one matrix product.
    const at::Tensor grouped =
        queries.reshape({batch, kvHeads, group * length, headDim});  // [B, Hkv, G*T, Dh]
    at::Tensor scores = at::matmul(grouped, keys.transpose(-2, -1)); // [B, Hkv, G*T, S]
    const bool halfPrecision = scores.scalar_type() == at::kHalf || scores.scalar_type() == at::kBFloat16;
    if (halfPrecision)
        scores = scores.to(at::kFloat);
    scores.mul_(scale);
    scores = scores.view({batch, kvHeads, group, length, span}); // [B, Hkv, G, T, S]
    // Every row has at least one allowed key (the token itself), so -inf never yields NaN.
    scores.masked_fill_(blocked.view({batch, 1, 1, length, span}), -std::numeric_limits<double>::infinity());
    at::Tensor probabilities = at::softmax(scores, -1); // [B, Hkv, G, T, S]
    if (halfPrecision)
        probabilities = probabilities.to(values.scalar_type());
    const at::Tensor output =
        at::matmul(probabilities.view({batch, kvHeads, group * length, span}), values); // [B, Hkv, G*T, Dh]
    return output.view({batch, heads, length, headDim});
}
#endif

} // namespace

at::Tensor groupedAttention(const at::Tensor& queries, const at::Tensor& keys, const at::Tensor& values,
                            const AttentionMask& mask, double scale)
{
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
    const std::int64_t batch = queries.size(0);
    const std::int64_t heads = queries.size(1);
    const std::int64_t length = queries.size(2);
    const std::int64_t headDim = queries.size(3);
    const std::int64_t kvHeads = keys.size(1);
    const std::int64_t span = keys.size(2);
    const std::int64_t group = heads / kvHeads;
    const at::Tensor grouped =
        queries.reshape({batch, kvHeads, group * length, headDim}); // [B, Hkv, G*T, Dh]
    const at::Tensor groupedMask = mask.allowed.view({batch, 1, 1, length, span})
                                       .expand({batch, 1, group, length, span})
                                       .reshape({batch, 1, group * length, span}); // [B, 1, G*T, S]
    const at::Tensor output =
        at::scaled_dot_product_attention(grouped, keys, values, groupedMask, 0.0,
                                         /*is_causal=*/false, scale); // [B, Hkv, G*T, Dh]
    // reshape, not view: CUDA's attention kernels may return another memory layout, in which Hkv
    // and G*T cannot be regrouped without a copy (a view threw there for grouped-query models).
    return output.reshape({batch, heads, length, headDim});
#else
    // Long prefills go in blocks of query rows, each against only the keys it can reach (the keys
    // up to its last row), which skips most of the masked upper triangle.
    constexpr std::int64_t blockRows = 128;
    const std::int64_t length = queries.size(2);
    const std::int64_t span = keys.size(2);
    const at::Tensor blocked = mask.blocked.squeeze(1); // [B, T, S]
    if (length <= 2 * blockRows)
        return attendBlock(queries, keys, values, blocked, scale);
    std::vector<at::Tensor> outputs;
    for (std::int64_t start = 0; start < length; start += blockRows) {
        const std::int64_t rows = std::min(blockRows, length - start);
        const std::int64_t reach = span - length + start + rows;
        outputs.push_back(
            attendBlock(queries.narrow(2, start, rows), keys.narrow(2, 0, reach), values.narrow(2, 0, reach),
                        blocked.narrow(1, start, rows).narrow(2, 0, reach).contiguous(), scale));
    }
    return at::cat(outputs, 2); // [B, H, T, Dh]
#endif
}

} // namespace sp::model
