#include "model/causal_lm.h"

#include "model/causal_lm_impl.h"
#include "model/decoder_blocks.h"
#include "softprompt/error.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

namespace sp::model {

namespace {

// Elements drawn at a time for a large half-precision random matrix (16 MB of float32).
constexpr std::int64_t kRandomDrawChunk = std::int64_t(4) << 20;

std::string lengthText(std::int64_t value)
{
    return std::to_string(value);
}

// The causal mask over [past, new] keys: query t (at index P + t) sees keys 0..P+t that the
// attention mask allows, and always itself, so padded rows stay finite. With a `window`, only keys
// less than `window` indices back (transformers' sliding-window overlay: kv > q - window).
AttentionMask allowedKeys(const at::Tensor& keyMask, std::int64_t pastLength, std::int64_t newLength,
                          std::int64_t window = 0)
{
    const std::int64_t span = pastLength + newLength;
    const at::TensorOptions longOptions = at::TensorOptions().dtype(at::kLong).device(keyMask.device());
    const at::Tensor keyIndex = at::arange(span, longOptions).view({1, span});                    // [1, S]
    const at::Tensor queryIndex = at::arange(pastLength, span, longOptions).view({newLength, 1}); // [T, 1]
    at::Tensor causal = keyIndex <= queryIndex; // [T, S]
    if (window > 0)
        causal = causal & (keyIndex > queryIndex - window);
    const at::Tensor self = keyIndex == queryIndex;                                               // [T, S]
    const at::Tensor allowed = (causal.unsqueeze(0) & keyMask.unsqueeze(1)) | self.unsqueeze(0);  // [B, T, S]
    AttentionMask mask;
    mask.allowed = allowed.unsqueeze(1); // [B, 1, T, S]
    mask.blocked = mask.allowed.logical_not();
    return mask;
}

} // namespace

// ---- KVCache ---------------------------------------------------------------------------------

std::int64_t KVCache::length() const
{
    return sharedLength() + (keys.empty() ? 0 : keys.front().size(2));
}

KVCache KVCache::asSharedPrefix() const
{
    if (!sharedKeys.empty()) {
        if (keys.empty())
            return *this;
        throw Error("a KV cache that continues a shared prefix cannot itself become the shared prefix");
    }
    KVCache shared;
    for (std::size_t layer = 0; layer < keys.size(); ++layer) {
        if (keys[layer].size(0) != 1)
            throw Error("a shared prefix cache must have batch 1, not " + lengthText(keys[layer].size(0)));
        shared.sharedKeys.push_back(keys[layer]);
        shared.sharedValues.push_back(values[layer]);
    }
    return shared;
}

KVCache KVCache::expandedTo(std::int64_t batch) const
{
    KVCache expanded;
    expanded.sharedKeys = sharedKeys; // serves every batch as it is
    expanded.sharedValues = sharedValues;
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
                                                 const RandomInit& init, HalfCompute compute)
{
    configureCpuThreads();
    auto impl = std::make_unique<Impl>();
    impl->config = config;
    impl->device = device;
    impl->choosePrecision(dtype, compute);
    impl->validateConfig();
    impl->prepare();
    at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(seed);
    const double residualScale = 1.0 / std::sqrt(2.0 * double(config.numLayers));
    for (ParameterSlot& slot : impl->parameterSlots()) {
        const at::ScalarType stored = impl->storageDtype(slot.shape);
        const std::int64_t rowSize = slot.shape.size() == 2 ? slot.shape[1] : 0;
        if (device.is_cpu() && stored != at::kFloat && stored != at::kDouble && slot.init == InitKind::Normal &&
            rowSize > 0 && rowSize % 16 == 0 && slot.shape.front() * rowSize > kRandomDrawChunk) {
            // A large half-precision matrix is drawn in float32 row blocks, so that no float32 copy of
            // it exists (2 GB for a 128k x 4096 head). Blocks of whole 16-value groups draw exactly the
            // values one draw over the whole matrix would (torch fills normals 16 at a time).
            *slot.tensor = at::empty(slot.shape, at::TensorOptions().dtype(stored));
            const std::int64_t rows = std::max<std::int64_t>(1, kRandomDrawChunk / rowSize);
            const double deviation = init.weightStd * (slot.residualProjection ? residualScale : 1.0);
            for (std::int64_t start = 0; start < slot.shape.front(); start += rows) {
                const std::int64_t count = std::min(rows, slot.shape.front() - start);
                slot.tensor->narrow(0, start, count)
                    .copy_(at::empty({count, rowSize}, at::kFloat).normal_(0.0, deviation, generator));
            }
            continue;
        }
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
        *slot.tensor = value.to(device, stored);
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

at::ScalarType CausalLM::weightDtype() const
{
    return impl_->weightDtype;
}

std::int64_t CausalLM::maxPositions() const
{
    return impl_->config.maxPositionEmbeddings;
}

at::Tensor CausalLM::embeddingMatrix() const
{
    return impl_->tokenEmbedding;
}

double CausalLM::embedScale() const
{
    return impl_->family->embedScale(*impl_);
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
    return impl_->family->embedTokens(*impl_, ids.to(impl_->device, at::kLong)).to(impl_->dtype); // [B, T, d]
}

void CausalLM::checkSequenceLength(std::int64_t totalTokens, const std::string& what) const
{
    const ModelConfig& config = impl_->config;
    if (totalTokens > config.maxPositionEmbeddings)
        throw Error(what + " = " + lengthText(totalTokens) + " tokens, more than this " + config.modelType +
                    " model's window of " + lengthText(config.maxPositionEmbeddings) +
                    " positions (max_position_embeddings); shorten the context or the query");
    if (config.slidingWindow && totalTokens > *config.slidingWindow && !impl_->family->masksSlidingWindow())
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
        const bool ownLayersMatch = past->keys.empty() || std::int64_t(past->keys.size()) == config.numLayers;
        if (std::int64_t(past->layerCount()) != config.numLayers || !ownLayersMatch ||
            past->values.size() != past->keys.size() || past->sharedValues.size() != past->sharedKeys.size())
            throw Error("forward: the KV cache has " + lengthText(std::int64_t(past->layerCount())) +
                        " layers, the model " + lengthText(config.numLayers));
        const std::int64_t pastBatch = past->keys.empty() ? 1 : past->keys.front().size(0);
        if (pastBatch != batch && pastBatch != 1)
            throw Error("forward: a KV cache for batch " + lengthText(pastBatch) + " cannot serve batch " +
                        lengthText(batch));
        if (!past->sharedKeys.empty() && past->sharedKeys.front().size(0) != 1)
            throw Error("forward: a shared prefix cache must have batch 1");
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

    const ModelFamily& family = *model.family;
    const AttentionMask mask = allowedKeys(keyMask, pastLength, length);
    // Sliding-window layers get their own mask once the keys reach past the window.
    AttentionMask slidingMask;
    if (family.masksSlidingWindow() && config.slidingWindow && span > *config.slidingWindow)
        slidingMask = allowedKeys(keyMask, pastLength, length, *config.slidingWindow);
    std::vector<RotaryTables> rotary;
    for (const RotaryEmbedding& embedding : model.rotary)
        rotary.push_back(embedding.tables(positions, lastPosition, model.dtype));
    at::Tensor hidden = family.inputHidden(model, embeds.to(model.device, model.dtype), positions); // [B*T, d]

    ForwardOutput output;
    LayerContext context;
    context.batch = batch;
    context.length = length;
    context.mask = &mask;
    context.slidingMask = slidingMask.allowed.defined() ? &slidingMask : &mask;
    context.rotary = &rotary;
    context.cacheOut = input.returnCache ? &output.cache : nullptr;
    for (std::size_t index = 0; index < model.layers.size(); ++index) {
        const bool shared = past && !past->sharedKeys.empty();
        const bool own = past && !past->keys.empty();
        context.sharedKeys = shared ? &past->sharedKeys[index] : nullptr;
        context.sharedValues = shared ? &past->sharedValues[index] : nullptr;
        context.pastKeys = own ? &past->keys[index] : nullptr;
        context.pastValues = own ? &past->values[index] : nullptr;
        hidden = family.layer(model, index, hidden, context); // [B*T, d]
    }
    hidden = family.finalNorm(model, hidden);
    hidden = hidden.view({batch, length, config.hiddenSize}); // [B, T, d]
    if (input.hiddenOnly) {
        output.hidden = hidden;
        return output;
    }
    if (input.logitIndices.defined()) {
        const at::Tensor indices = input.logitIndices.to(model.device, at::kLong); // [B, N]
        if (indices.dim() != 2 || indices.size(0) != batch)
            throw Error("forward: logitIndices must be [" + lengthText(batch) + ", N]");
        hidden = hidden.gather(
            1, indices.unsqueeze(-1).expand({batch, indices.size(1), config.hiddenSize})); // [B, N, d]
    }
    const std::int64_t rows = hidden.size(1);
    output.logits = logitsFromHidden(hidden.reshape({batch * rows, config.hiddenSize}))
                        .view({batch, rows, config.vocabSize}); // [B, T or N, V]
    return output;
}

at::Tensor CausalLM::logitsFromHidden(const at::Tensor& hidden) const
{
    const Impl& model = *impl_;
    const at::ScalarType logitType = model.dtype == at::kDouble ? at::kDouble : at::kFloat;
    return model.family->finishLogits(model, project(hidden.to(model.dtype), model.lmHead)).to(logitType); // [N, V]
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
        if (model.weightDtype != model.dtype)
            throw Error("half-precision weights with float32 compute cannot be trained; load the model in "
                        "float32 to train its weights");
        if (model.weightsMapped) // views of the read-only file mapping: train private copies
            for (ParameterSlot& slot : model.parameterSlots())
                *slot.tensor = slot.tensor->clone();
        model.weightsMapped = false;
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
