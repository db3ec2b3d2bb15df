#include "model/layers.h"

#include "softprompt/error.h"

#include <torch/csrc/autograd/custom_function.h>

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

at::Tensor gemmaRmsNorm(const at::Tensor& input, const at::Tensor& weight, double epsilon)
{
    const at::ScalarType statisticsType = input.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
    const at::Tensor wide = input.to(statisticsType);                     // [..., d]
    const at::Tensor meanSquare = wide.pow(2).mean(-1, /*keepdim=*/true); // [..., 1]
    const at::Tensor normalised = wide * at::rsqrt(meanSquare + epsilon); // [..., d]
    return (normalised * (weight.to(statisticsType) + 1.0)).to(input.scalar_type());
}

namespace {

// One block of query rows against the keys they can reach; see groupedAttention.
at::Tensor attendBlock(const at::Tensor& queries, const at::Tensor& keys, const at::Tensor& values,
                       const at::Tensor& blocked, double scale, double softcap)
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
    if (softcap > 0)
        scores = at::tanh(scores / softcap) * softcap;
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

// Long prefills go in blocks of query rows, each against only the keys it can reach (the keys up to
// its last row), which skips most of the masked upper triangle.
at::Tensor blockedAttention(const at::Tensor& queries, const at::Tensor& keys, const at::Tensor& values,
                            const AttentionMask& mask, double scale, double softcap)
{
    constexpr std::int64_t blockRows = 128;
    const std::int64_t length = queries.size(2);
    const std::int64_t span = keys.size(2);
    const at::Tensor blocked = mask.blocked.squeeze(1); // [B, T, S]
    if (length <= 2 * blockRows)
        return attendBlock(queries, keys, values, blocked, scale, softcap);
    std::vector<at::Tensor> outputs;
    for (std::int64_t start = 0; start < length; start += blockRows) {
        const std::int64_t rows = std::min(blockRows, length - start);
        const std::int64_t reach = span - length + start + rows;
        outputs.push_back(attendBlock(queries.narrow(2, start, rows), keys.narrow(2, 0, reach),
                                      values.narrow(2, 0, reach),
                                      blocked.narrow(1, start, rows).narrow(2, 0, reach).contiguous(), scale,
                                      softcap));
    }
    return at::cat(outputs, 2); // [B, H, T, Dh]
}

} // namespace

at::Tensor groupedAttention(const at::Tensor& queries, const at::Tensor& keys, const at::Tensor& values,
                            const AttentionMask& mask, double scale, double softcap)
{
    if (softcap > 0) // no fused kernel applies a soft cap
        return blockedAttention(queries, keys, values, mask, scale, softcap);
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
    return blockedAttention(queries, keys, values, mask, scale, 0.0);
#endif
}

at::Tensor groupedAttentionWithSharedPrefix(const at::Tensor& queries, const at::Tensor& sharedKeys,
                                            const at::Tensor& sharedValues, const at::Tensor& keys,
                                            const at::Tensor& values, const AttentionMask& mask, double scale,
                                            double softcap)
{
    const std::int64_t batch = queries.size(0);
    const std::int64_t heads = queries.size(1);
    const std::int64_t length = queries.size(2);
    const std::int64_t headDim = queries.size(3);
    const std::int64_t kvHeads = keys.size(1);
    const std::int64_t group = heads / kvHeads;
    const std::int64_t rows = group * length;
    const std::int64_t prefix = sharedKeys.size(2);
    const std::int64_t own = keys.size(2);
    const at::Tensor grouped = queries.reshape({batch, kvHeads, rows, headDim}); // [B, Hkv, G*T, Dh]
    // Every row of every sequence against the one stored prefix: [Hkv, B*G*T, Dh] x [Hkv, Dh, P].
    const at::Tensor stacked =
        grouped.transpose(0, 1).reshape({kvHeads, batch * rows, headDim}); // [Hkv, B*G*T, Dh]
    const at::Tensor prefixScores = at::matmul(stacked, sharedKeys[0].transpose(-2, -1))
                                        .view({kvHeads, batch, rows, prefix})
                                        .transpose(0, 1);                         // [B, Hkv, G*T, P]
    const at::Tensor ownScores = at::matmul(grouped, keys.transpose(-2, -1)); // [B, Hkv, G*T, S]
    at::Tensor scores = at::cat({prefixScores, ownScores}, -1);               // [B, Hkv, G*T, P + S]
    const bool halfPrecision = scores.scalar_type() == at::kHalf || scores.scalar_type() == at::kBFloat16;
    if (halfPrecision)
        scores = scores.to(at::kFloat);
    scores = scores.mul(scale);
    if (softcap > 0)
        scores = at::tanh(scores / softcap) * softcap;
    scores = scores.view({batch, kvHeads, group, length, prefix + own}); // [B, Hkv, G, T, P + S]
    // Every row has at least one allowed key (the token itself), so -inf never yields NaN.
    scores = scores.masked_fill(mask.blocked.view({batch, 1, 1, length, prefix + own}),
                                -std::numeric_limits<double>::infinity());
    at::Tensor probabilities = at::softmax(scores, -1).view({batch, kvHeads, rows, prefix + own});
    if (halfPrecision)
        probabilities = probabilities.to(values.scalar_type());
    const at::Tensor fromPrefix =
        at::matmul(probabilities.narrow(-1, 0, prefix).transpose(0, 1).reshape({kvHeads, batch * rows, prefix}),
                   sharedValues[0]) // [Hkv, B*G*T, Dh]
            .view({kvHeads, batch, rows, headDim})
            .transpose(0, 1);                                                                  // [B, Hkv, G*T, Dh]
    const at::Tensor fromOwn = at::matmul(probabilities.narrow(-1, prefix, own), values); // [B, Hkv, G*T, Dh]
    return (fromPrefix + fromOwn).reshape({batch, heads, length, headDim});
}

namespace {

// 16 MB: small next to any model that needs half precision, and below glibc's largest mmap threshold
// (32 MB), so that the blocks reuse heap memory instead of being mapped and faulted in afresh each time.
constexpr std::int64_t kConvertedBlockBytes = std::int64_t(16) << 20;

// Output columns [start, start + count) of a half-precision weight, converted: [in, count].
at::Tensor convertedColumns(const at::Tensor& weight, bool conv1dLayout, std::int64_t start, std::int64_t count,
                            at::ScalarType type)
{
    return conv1dLayout ? weight.narrow(1, start, count).to(type)
                        : weight.narrow(0, start, count).to(type).t();
}

struct ConvertedLinear : public torch::autograd::Function<ConvertedLinear> {
    static std::int64_t blockColumns(std::int64_t in, std::size_t elementSize)
    {
        return std::max<std::int64_t>(1, kConvertedBlockBytes / (in * std::int64_t(elementSize)));
    }

    // input [N, in] -> [N, out]
    static at::Tensor forward(torch::autograd::AutogradContext* context, const at::Tensor& input,
                              const at::Tensor& weight, bool conv1dLayout)
    {
        context->save_for_backward({weight}); // the half-precision weight itself, not a float32 copy
        context->saved_data["conv1d"] = conv1dLayout;
        const std::int64_t in = conv1dLayout ? weight.size(0) : weight.size(1);
        const std::int64_t out = conv1dLayout ? weight.size(1) : weight.size(0);
        const std::int64_t step = blockColumns(in, input.element_size());
        if (out <= step)
            return at::mm(input, convertedColumns(weight, conv1dLayout, 0, out, input.scalar_type()));
        at::Tensor result = at::empty({input.size(0), out}, input.options()); // [N, out]
        for (std::int64_t start = 0; start < out; start += step) {
            const std::int64_t count = std::min(step, out - start);
            result.narrow(1, start, count)
                .copy_(at::mm(input, convertedColumns(weight, conv1dLayout, start, count, input.scalar_type())));
        }
        return result;
    }

    // grad [N, out] -> grad input [N, in], converting the weight again block by block.
    static torch::autograd::variable_list backward(torch::autograd::AutogradContext* context,
                                                   torch::autograd::variable_list gradients)
    {
        const at::Tensor weight = context->get_saved_variables()[0];
        const bool conv1dLayout = context->saved_data["conv1d"].toBool();
        const at::Tensor& gradient = gradients[0];
        const std::int64_t in = conv1dLayout ? weight.size(0) : weight.size(1);
        const std::int64_t out = conv1dLayout ? weight.size(1) : weight.size(0);
        const std::int64_t step = blockColumns(in, gradient.element_size());
        at::Tensor gradInput;
        for (std::int64_t start = 0; start < out; start += step) {
            const std::int64_t count = std::min(step, out - start);
            const at::Tensor block = convertedColumns(weight, conv1dLayout, start, count, gradient.scalar_type());
            const at::Tensor part = at::mm(gradient.narrow(1, start, count), block.t()); // [N, in]
            gradInput = gradInput.defined() ? gradInput.add_(part) : part;
        }
        return {gradInput, at::Tensor(), at::Tensor()};
    }
};

} // namespace

at::Tensor linearConverted(const at::Tensor& input, const at::Tensor& weight, bool conv1dLayout)
{
    if (weight.requires_grad())
        throw Error("half-precision weights converted per layer are frozen; load the model in float32 to "
                    "train its weights",
                    Remedy::UseFloat32);
    return ConvertedLinear::apply(input, weight, conv1dLayout);
}

} // namespace sp::model
