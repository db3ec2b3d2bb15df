#include "model/causal_lm.h"

#include "model/causal_lm_impl.h"
#include "softprompt/error.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

namespace sp::model {

namespace {

std::string lengthText(std::int64_t value)
{
    return std::to_string(value);
}

// input [N, in] times weight [out, in] transposed, plus bias: [N, out]. A single row goes through
// GEMV, which streams the weight once; GEMM would first pack all of it (3x slower when decoding).
at::Tensor project(const at::Tensor& input, const at::Tensor& weight, const at::Tensor& bias = {})
{
    if (input.size(0) == 1) {
        const at::Tensor row = at::mv(weight, input[0]); // [out]
        return (bias.defined() ? row + bias : row).unsqueeze(0);
    }
    return bias.defined() ? at::linear(input, weight, bias) : at::linear(input, weight);
}

// The same for GPT-2's Conv1D layout, weight [in, out].
at::Tensor conv1d(const at::Tensor& input, const at::Tensor& weight, const at::Tensor& bias)
{
    if (input.size(0) == 1)
        return (at::mv(weight.t(), input[0]) + bias).unsqueeze(0);
    return at::addmm(bias, input, weight);
}

at::Tensor catDefined(const std::vector<at::Tensor>& parts)
{
    return parts.front().defined() ? at::cat(parts, 0) : at::Tensor();
}

// The causal mask over [past, new] keys: query t (at index P + t) sees keys 0..P+t that the
// attention mask allows, and always itself, so padded rows stay finite.
AttentionMask allowedKeys(const at::Tensor& keyMask, std::int64_t pastLength, std::int64_t newLength)
{
    const std::int64_t span = pastLength + newLength;
    const at::TensorOptions longOptions = at::TensorOptions().dtype(at::kLong).device(keyMask.device());
    const at::Tensor keyIndex = at::arange(span, longOptions).view({1, span});                    // [1, S]
    const at::Tensor queryIndex = at::arange(pastLength, span, longOptions).view({newLength, 1}); // [T, 1]
    const at::Tensor causal = keyIndex <= queryIndex;                                             // [T, S]
    const at::Tensor self = keyIndex == queryIndex;                                               // [T, S]
    const at::Tensor allowed = (causal.unsqueeze(0) & keyMask.unsqueeze(1)) | self.unsqueeze(0);  // [B, T, S]
    AttentionMask mask;
    mask.allowed = allowed.unsqueeze(1); // [B, 1, T, S]
    mask.blocked = mask.allowed.logical_not();
    return mask;
}

at::Tensor pastFor(const at::Tensor& past, std::int64_t batch)
{
    return past.size(0) == batch ? past : past.expand({batch, -1, -1, -1});
}

struct LayerContext {
    std::int64_t batch = 0;
    std::int64_t length = 0;
    const at::Tensor* pastKeys = nullptr;   // [B or 1, Hkv, P, Dh]
    const at::Tensor* pastValues = nullptr; // [B or 1, Hkv, P, Dh]
    const AttentionMask* mask = nullptr;
    const RotaryTables* rotary = nullptr;
    KVCache* cacheOut = nullptr;
};

// Joins the past with the new keys/values and records them in the output cache when asked.
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
    }
}

at::Tensor gpt2Attention(const CausalLM::Impl& model, const DecoderLayer& layer, const at::Tensor& hidden,
                         const LayerContext& context)
{
    const ModelConfig& config = model.config;
    const std::int64_t heads = config.numHeads;
    const std::int64_t headDim = config.headDim;
    const at::Tensor qkv = conv1d(hidden, layer.attentionWeight, layer.attentionBias) // [B*T, 3d]
                               .view({context.batch, context.length, 3, heads, headDim})
                               .permute({2, 0, 3, 1, 4}); // [3, B, H, T, Dh]
    const at::Tensor queries = qkv[0];                    // [B, H, T, Dh]
    at::Tensor keys = qkv[1];                             // [B, H, T, Dh]
    at::Tensor values = qkv[2];                           // [B, H, T, Dh]
    joinPast(context, keys, values);
    const at::Tensor attended = groupedAttention(queries, keys, values, *context.mask,
                                                 1.0 / std::sqrt(double(headDim))); // [B, H, T, Dh]
    const at::Tensor merged =
        attended.transpose(1, 2).reshape({context.batch * context.length, heads * headDim});
    return conv1d(merged, layer.attentionOutWeight, layer.attentionOutBias); // [B*T, d]
}

at::Tensor llamaAttention(const CausalLM::Impl& model, const DecoderLayer& layer, const at::Tensor& hidden,
                          const LayerContext& context)
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
    const at::Tensor queries = applyRotary(parts[0].transpose(1, 2), *context.rotary); // [B, H, T, Dh]
    at::Tensor keys = applyRotary(parts[1].transpose(1, 2), *context.rotary);          // [B, Hkv, T, Dh]
    at::Tensor values = parts[2].transpose(1, 2);                                      // [B, Hkv, T, Dh]
    joinPast(context, keys, values);
    const at::Tensor attended = groupedAttention(queries, keys, values, *context.mask,
                                                 std::pow(double(headDim), -0.5)); // [B, H, T, Dh]
    const at::Tensor merged =
        attended.transpose(1, 2).reshape({context.batch * context.length, heads * headDim});
    return project(merged, layer.oWeight, layer.oBias); // [B*T, d]
}

at::Tensor gpt2Mlp(const CausalLM::Impl& model, const DecoderLayer& layer, const at::Tensor& hidden)
{
    const at::Tensor inner =
        applyActivation(model.activation, conv1d(hidden, layer.fcWeight, layer.fcBias)); // [B*T, I]
    return conv1d(inner, layer.mlpOutWeight, layer.mlpOutBias);                          // [B*T, d]
}

at::Tensor llamaMlp(const CausalLM::Impl& model, const DecoderLayer& layer, const at::Tensor& hidden)
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

} // namespace

// ---- KVCache ---------------------------------------------------------------------------------

std::int64_t KVCache::length() const
{
    return keys.empty() ? 0 : keys.front().size(2);
}

KVCache KVCache::expandedTo(std::int64_t batch) const
{
    KVCache expanded;
    for (std::size_t layer = 0; layer < keys.size(); ++layer) {
        const std::int64_t current = keys[layer].size(0);
        if (current != batch && current != 1)
            throw Error("a KV cache for a batch of " + lengthText(current) + " cannot serve a batch of " +
                        lengthText(batch) + "; build the shared prefix cache with batch 1");
        expanded.keys.push_back(pastFor(keys[layer], batch));
        expanded.values.push_back(pastFor(values[layer], batch));
    }
    return expanded;
}

// ---- construction ----------------------------------------------------------------------------

CausalLM::CausalLM(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CausalLM::~CausalLM() = default;

std::shared_ptr<CausalLM> CausalLM::fromImpl(std::unique_ptr<Impl> impl)
{
    return std::shared_ptr<CausalLM>(new CausalLM(std::move(impl)));
}

std::shared_ptr<CausalLM> CausalLM::createRandom(const ModelConfig& config, std::uint64_t seed,
                                                 at::Device device, at::ScalarType dtype,
                                                 const RandomInit& init)
{
    configureCpuThreads();
    auto impl = std::make_unique<Impl>();
    impl->config = config;
    impl->device = device;
    impl->dtype = dtype;
    impl->validateConfig();
    impl->prepare();
    at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(seed);
    const double residualScale = 1.0 / std::sqrt(2.0 * double(config.numLayers));
    for (ParameterSlot& slot : impl->parameterSlots()) {
        at::Tensor value = at::empty(slot.shape, at::kFloat); // drawn on the CPU: the same on every device
        switch (slot.init) {
        case InitKind::Normal:
            value.normal_(0.0, init.weightStd * (slot.residualProjection ? residualScale : 1.0), generator);
            break;
        case InitKind::Zeros:
            if (init.randomizeNormsAndBiases)
                value.normal_(0.0, init.weightStd, generator);
            else
                value.zero_();
            break;
        case InitKind::Ones:
            if (init.randomizeNormsAndBiases)
                value.normal_(1.0, 0.1, generator);
            else
                value.fill_(1.0);
            break;
        }
        *slot.tensor = value.to(device, dtype);
    }
    impl->tieHead();
    impl->fuseProjections();
    return fromImpl(std::move(impl));
}

// ---- accessors -------------------------------------------------------------------------------

const ModelConfig& CausalLM::config() const
{
    return impl_->config;
}

at::Device CausalLM::device() const
{
    return impl_->device;
}

at::ScalarType CausalLM::dtype() const
{
    return impl_->dtype;
}

std::int64_t CausalLM::maxPositions() const
{
    return impl_->config.maxPositionEmbeddings;
}

at::Tensor CausalLM::embeddingMatrix() const
{
    return impl_->tokenEmbedding;
}

at::Tensor CausalLM::embed(const at::Tensor& ids) const
{
    const std::int64_t vocab = impl_->config.vocabSize;
    if (ids.numel() > 0) {
        const std::int64_t low = ids.min().item<std::int64_t>();
        const std::int64_t high = ids.max().item<std::int64_t>();
        if (low < 0 || high >= vocab)
            throw Error("token id " + lengthText(low < 0 ? low : high) +
                        " is outside this model's vocabulary of " + lengthText(vocab) +
                        " tokens; the tokenizer does not match the model");
    }
    return at::embedding(impl_->tokenEmbedding, ids.to(impl_->device, at::kLong)); // [B, T, d]
}

void CausalLM::checkSequenceLength(std::int64_t totalTokens, const std::string& what) const
{
    const ModelConfig& config = impl_->config;
    if (totalTokens > config.maxPositionEmbeddings)
        throw Error(what + " = " + lengthText(totalTokens) + " tokens, more than this " + config.modelType +
                    " model's window of " + lengthText(config.maxPositionEmbeddings) +
                    " positions (max_position_embeddings); shorten the context or the query");
    if (config.slidingWindow && totalTokens > *config.slidingWindow)
        throw Error(what + " = " + lengthText(totalTokens) + " tokens, more than this " + config.modelType +
                    " model's sliding attention window of " + lengthText(*config.slidingWindow) +
                    " tokens; beyond the window the model attends only to recent tokens, which the workbench "
                    "does not implement: shorten the context or the query to fit the window");
}

// ---- forward ---------------------------------------------------------------------------------

ForwardOutput CausalLM::forward(const ForwardInput& input) const
{
    const Impl& model = *impl_;
    const ModelConfig& config = model.config;
    const at::Tensor& embeds = input.inputsEmbeds; // [B, T, d]
    if (!embeds.defined() || embeds.dim() != 3 || embeds.size(2) != config.hiddenSize)
        throw Error("forward: inputs_embeds must be [batch, tokens, " + lengthText(config.hiddenSize) + "]");
    const std::int64_t batch = embeds.size(0);
    const std::int64_t length = embeds.size(1);
    if (batch == 0 || length == 0)
        throw Error("forward: empty input (batch " + lengthText(batch) + ", tokens " + lengthText(length) +
                    ")");
    const KVCache* past = input.past && !input.past->empty() ? input.past : nullptr;
    const std::int64_t pastLength = past ? past->length() : 0;
    const std::int64_t span = pastLength + length;
    if (past) {
        if (std::int64_t(past->keys.size()) != config.numLayers || past->values.size() != past->keys.size())
            throw Error("forward: the KV cache has " + lengthText(std::int64_t(past->keys.size())) +
                        " layers, the model " + lengthText(config.numLayers));
        const std::int64_t pastBatch = past->keys.front().size(0);
        if (pastBatch != batch && pastBatch != 1)
            throw Error("forward: a KV cache for batch " + lengthText(pastBatch) + " cannot serve batch " +
                        lengthText(batch));
    }

    at::Tensor keyMask; // [B, S] bool
    if (input.attentionMask.defined()) {
        if (input.attentionMask.dim() != 2 || input.attentionMask.size(0) != batch ||
            input.attentionMask.size(1) != span)
            throw Error("forward: the attention mask must be [" + lengthText(batch) + ", " +
                        lengthText(span) + "] (batch, past + new tokens)");
        keyMask = input.attentionMask.to(model.device, at::kBool);
    } else {
        keyMask = at::ones({batch, span}, at::TensorOptions().dtype(at::kBool).device(model.device));
    }
    if (!input.positions.defined() || input.positions.dim() != 2 || input.positions.size(0) != batch ||
        input.positions.size(1) != length)
        throw Error("forward: positions must be [" + lengthText(batch) + ", " + lengthText(length) + "]");
    const at::Tensor queryValid = keyMask.narrow(1, pastLength, length); // [B, T]
    // Padded slots may hold anything: they read position 0 so nothing indexes past the table.
    const at::Tensor positions =
        input.positions.to(model.device, at::kLong).masked_fill(queryValid.logical_not(), 0); // [B, T]
    const std::int64_t lastPosition =
        input.positionRange ? input.positionRange->second : positions.max().item<std::int64_t>();
    const std::int64_t firstPosition =
        input.positionRange ? input.positionRange->first : positions.min().item<std::int64_t>();
    if (firstPosition < 0)
        throw Error("forward: negative position id " + lengthText(firstPosition));
    if (lastPosition >= config.maxPositionEmbeddings)
        checkSequenceLength(lastPosition + 1,
                            "the sequence (position " + lengthText(lastPosition) + " needed)");
    checkSequenceLength(span, "the sequence (past " + lengthText(pastLength) + " + new " +
                                  lengthText(length) + ")");

    const AttentionMask mask = allowedKeys(keyMask, pastLength, length);
    at::Tensor hidden = embeds.to(model.device, model.dtype); // [B, T, d]
    RotaryTables rotary;
    if (model.isGpt2())
        hidden = hidden + at::embedding(model.positionEmbedding, positions);
    else
        rotary = rotaryTables(model.inverseFrequencies, positions, model.dtype);
    hidden = hidden.reshape({batch * length, config.hiddenSize}); // [B*T, d]

    ForwardOutput output;
    LayerContext context;
    context.batch = batch;
    context.length = length;
    context.mask = &mask;
    context.rotary = &rotary;
    context.cacheOut = input.returnCache ? &output.cache : nullptr;
    const double epsilon = config.normEpsilon;
    const std::vector<std::int64_t> normShape{config.hiddenSize};
    for (std::size_t index = 0; index < model.layers.size(); ++index) {
        const DecoderLayer& layer = model.layers[index];
        context.pastKeys = past ? &past->keys[index] : nullptr;
        context.pastValues = past ? &past->values[index] : nullptr;
        if (model.isGpt2()) {
            const at::Tensor normed =
                at::layer_norm(hidden, normShape, layer.inputNormWeight, layer.inputNormBias, epsilon);
            hidden = hidden + gpt2Attention(model, layer, normed, context);
            const at::Tensor normedAgain =
                at::layer_norm(hidden, normShape, layer.postNormWeight, layer.postNormBias, epsilon);
            hidden = hidden + gpt2Mlp(model, layer, normedAgain);
        } else {
            hidden = hidden +
                     llamaAttention(model, layer, rmsNorm(hidden, layer.inputNormWeight, epsilon), context);
            hidden = hidden + llamaMlp(model, layer, rmsNorm(hidden, layer.postNormWeight, epsilon));
        }
    }
    hidden = model.isGpt2()
                 ? at::layer_norm(hidden, normShape, model.finalNormWeight, model.finalNormBias, epsilon)
                 : rmsNorm(hidden, model.finalNormWeight, epsilon);
    hidden = hidden.view({batch, length, config.hiddenSize}); // [B, T, d]
    if (input.logitIndices.defined()) {
        const at::Tensor indices = input.logitIndices.to(model.device, at::kLong); // [B, N]
        if (indices.dim() != 2 || indices.size(0) != batch)
            throw Error("forward: logitIndices must be [" + lengthText(batch) + ", N]");
        hidden = hidden.gather(
            1, indices.unsqueeze(-1).expand({batch, indices.size(1), config.hiddenSize})); // [B, N, d]
    }
    const at::ScalarType logitType = model.dtype == at::kDouble ? at::kDouble : at::kFloat;
    const std::int64_t rows = hidden.size(1);
    output.logits = project(hidden.reshape({batch * rows, config.hiddenSize}), model.lmHead)
                        .view({batch, rows, config.vocabSize})
                        .to(logitType); // [B, T or N, V]
    return output;
}

ForwardOutput CausalLM::forwardIds(const at::Tensor& ids, const KVCache* past, bool returnCache) const
{
    if (ids.dim() != 2)
        throw Error("forwardIds: ids must be [batch, tokens]");
    const std::int64_t batch = ids.size(0);
    const std::int64_t length = ids.size(1);
    const std::int64_t pastLength = past ? past->length() : 0;
    const at::TensorOptions longOptions = at::TensorOptions().dtype(at::kLong).device(impl_->device);
    ForwardInput input;
    input.inputsEmbeds = embed(ids);
    input.positions =
        at::arange(pastLength, pastLength + length, longOptions).unsqueeze(0).expand({batch, length});
    input.attentionMask =
        at::ones({batch, pastLength + length}, at::TensorOptions().dtype(at::kBool).device(impl_->device));
    // Known here, so forward() need not read it back from the device (two syncs per decoded token).
    input.positionRange = std::make_pair(pastLength, pastLength + length - 1);
    input.past = past;
    input.returnCache = returnCache;
    return forward(input);
}

// ---- parameters ------------------------------------------------------------------------------

std::vector<std::pair<std::string, at::Tensor>> CausalLM::namedParameters() const
{
    std::vector<std::pair<std::string, at::Tensor>> named;
    for (const ParameterSlot& slot : impl_->parameterSlots())
        named.emplace_back(slot.name, *slot.tensor);
    return named;
}

void CausalLM::setTrainable(bool trainable)
{
    Impl& model = *impl_;
    if (trainable == model.trainable)
        return;
    if (trainable) {
        model.unfuseProjections();
        model.trainable = true;
        for (ParameterSlot& slot : model.parameterSlots())
            slot.tensor->requires_grad_(true);
    } else {
        for (ParameterSlot& slot : model.parameterSlots())
            *slot.tensor = slot.tensor->detach().requires_grad_(false);
        model.trainable = false;
        model.fuseProjections();
    }
    model.tieHead();
}

bool CausalLM::isTrainable() const
{
    return impl_->trainable;
}

} // namespace sp::model
