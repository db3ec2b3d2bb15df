#include "engine/forward.h"

#include <algorithm>

namespace sp::engine {

namespace {

at::TensorOptions longOn(at::Device device)
{
    return at::TensorOptions().dtype(at::kLong).device(device);
}

} // namespace

at::Tensor toDeviceWithoutWaiting(const at::Tensor& cpu, at::Device device)
{
    if (!device.is_cuda())
        return cpu.to(device);
    // Torch's host allocator keeps the pinned block alive until the copy has run.
    return cpu.pin_memory().to(device, cpu.scalar_type(), /*non_blocking=*/true);
}

PrefixState prefixFromEmbeddings(const model::CausalLM& lm, const at::Tensor& embeds)
{
    PrefixState prefix;
    prefix.length = embeds.size(1);
    if (prefix.length == 0)
        return prefix;
    at::NoGradGuard noGrad;
    model::ForwardInput input;
    input.inputsEmbeds = embeds.to(lm.dtype()).contiguous();                                  // [1, P, d]
    input.positions = at::arange(prefix.length, longOn(lm.device())).unsqueeze(0);            // [1, P]
    input.attentionMask = at::ones({1, prefix.length}, longOn(lm.device()).dtype(at::kBool)); // [1, P]
    input.returnCache = true;
    prefix.cache = lm.forward(input).cache.asSharedPrefix(); // read in place by every row after it
    return prefix;
}

RowBatch makeRowBatch(const std::vector<std::vector<std::int32_t>>& rows, std::int64_t prefixLength,
                      at::Device device)
{
    RowBatch batch;
    const std::int64_t count = std::int64_t(rows.size());
    std::int64_t width = 1;
    for (const auto& row : rows)
        width = std::max<std::int64_t>(width, std::int64_t(row.size()));
    std::vector<std::int64_t> ids(std::size_t(count * width), 0);
    std::vector<std::uint8_t> valid(std::size_t(count * (prefixLength + width)), 0);
    for (std::int64_t b = 0; b < count; ++b) {
        const auto& row = rows[std::size_t(b)];
        batch.lengths.push_back(std::int64_t(row.size()));
        std::copy(row.begin(), row.end(), ids.begin() + b * width);
        std::uint8_t* validRow = valid.data() + b * (prefixLength + width);
        std::fill(validRow, validRow + prefixLength + std::int64_t(row.size()), std::uint8_t(1));
    }
    batch.ids = at::tensor(ids, at::kLong).view({count, width}).to(device); // [B, T]
    batch.mask = at::tensor(at::ArrayRef<std::uint8_t>(valid), at::kByte)
                     .view({count, prefixLength + width})
                     .to(device, at::kBool); // [B, P + T]
    batch.positions = at::arange(prefixLength, prefixLength + width, longOn(device))
                          .unsqueeze(0)
                          .expand({count, width})
                          .contiguous(); // [B, T]
    return batch;
}

model::ForwardOutput forwardRows(const model::CausalLM& lm, const PrefixState& prefix, const RowBatch& batch,
                                 bool returnCache)
{
    at::NoGradGuard noGrad;
    model::ForwardInput input;
    input.inputsEmbeds = lm.embed(batch.ids); // [B, T, d]
    input.positions = batch.positions;
    input.positionRange = std::make_pair(prefix.length, prefix.length + batch.ids.size(1) - 1);
    input.attentionMask = batch.mask;
    // The prefix's cache is shared: every row attends to it in place (no per-row copy), and the
    // returned cache holds only the rows' own positions after it.
    input.past = prefix.length > 0 ? &prefix.cache : nullptr;
    input.returnCache = returnCache;
    return lm.forward(input);
}

GreedyResult greedyAfterPrefix(const model::CausalLM& lm, const PrefixState& prefix,
                               const std::vector<std::vector<std::int32_t>>& rows, int maxNew,
                               const std::vector<std::int32_t>& stopIds)
{
    if (rows.empty())
        return {};
    at::NoGradGuard noGrad;
    const at::Device device = lm.device();
    const RowBatch batch = makeRowBatch(rows, prefix.length, device);
    const std::int64_t count = std::int64_t(rows.size());
    model::ForwardOutput output = forwardRows(lm, prefix, batch, maxNew > 1);

    const at::Tensor lastIndex = at::tensor(batch.lengths, at::kLong).sub(1).to(device); // [B]
    const std::int64_t vocab = output.logits.size(-1);
    at::Tensor logits =
        output.logits.gather(1, lastIndex.view({count, 1, 1}).expand({count, 1, vocab})); // [B, 1, V]

    GreedyResult result;
    result.tokens.assign(std::size_t(count), {});
    std::vector<bool> finished(std::size_t(count), false);
    std::vector<at::Tensor> steps; // each [B, 1, V]
    model::KVCache cache = std::move(output.cache);
    at::Tensor mask = batch.mask; // [B, P + T + t]
    const std::int64_t shortestRow = *std::min_element(batch.lengths.begin(), batch.lengths.end());
    const std::int64_t longestRow = *std::max_element(batch.lengths.begin(), batch.lengths.end());
    for (int step = 0; step < maxNew; ++step) {
        steps.push_back(logits);
        const at::Tensor next = logits.argmax(-1); // [B, 1]
        const at::Tensor nextHost = next.to(at::kCPU).contiguous();
        const std::int64_t* chosen = nextHost.data_ptr<std::int64_t>();
        bool allFinished = true;
        for (std::int64_t b = 0; b < count; ++b) {
            if (!finished[std::size_t(b)]) {
                const auto token = std::int32_t(chosen[b]);
                result.tokens[std::size_t(b)].push_back(token);
                finished[std::size_t(b)] = std::find(stopIds.begin(), stopIds.end(), token) != stopIds.end();
            }
            allFinished = allFinished && finished[std::size_t(b)];
        }
        if (allFinished || step + 1 == maxNew)
            break;
        // Each row's next position follows its own last token; padding slots stay masked out.
        const at::Tensor positions =
            (at::tensor(batch.lengths, at::kLong).to(device) + (prefix.length + step))
                .view({count, 1}); // [B, 1]
        mask = at::cat({mask, at::ones({count, 1}, mask.options())}, 1);
        model::ForwardInput input;
        // The chosen ids are already on the host: embed() checks their range there, and the window
        // check uses the range known here, so the step reads nothing more back from the device.
        input.inputsEmbeds = lm.embed(nextHost); // [B, 1, d]
        input.positions = positions;
        input.positionRange =
            std::make_pair(shortestRow + prefix.length + step, longestRow + prefix.length + step);
        input.attentionMask = mask;
        input.past = &cache;
        input.returnCache = true;
        model::ForwardOutput stepOutput = lm.forward(input);
        cache = std::move(stepOutput.cache);
        logits = stepOutput.logits; // [B, 1, V]
    }
    result.stepLogits = at::cat(steps, 1); // [B, S, V]
    return result;
}

namespace {

// [B, T] bool: true on each row's first `length` slots.
at::Tensor validSlots(const std::vector<std::int64_t>& rowLengths, std::int64_t width, at::Device device)
{
    const auto count = std::int64_t(rowLengths.size());
    const at::Tensor lengths =
        toDeviceWithoutWaiting(at::tensor(rowLengths, at::kLong), device).view({count, 1}); // [B, 1]
    return at::arange(width, longOn(device)).unsqueeze(0).lt(lengths);
}

} // namespace

at::Tensor targetLogitsAfterPrefix(const model::CausalLM& lm, const PrefixState& prefix,
                                   const at::Tensor& rowEmbeds, const std::vector<std::int64_t>& rowLengths,
                                   const at::Tensor& targetIndex)
{
    at::NoGradGuard noGrad;
    const std::int64_t count = rowEmbeds.size(0);
    const std::int64_t width = rowEmbeds.size(1);
    const at::Device device = rowEmbeds.device();
    model::ForwardInput input;
    input.inputsEmbeds = rowEmbeds;
    input.positions = at::arange(prefix.length, prefix.length + width, longOn(device))
                          .unsqueeze(0)
                          .expand({count, width})
                          .contiguous(); // [B, T]
    input.attentionMask = at::cat({at::ones({count, prefix.length}, longOn(device).dtype(at::kBool)),
                                   validSlots(rowLengths, width, device)},
                                  1); // [B, P + T]
    input.positionRange = std::make_pair(prefix.length, prefix.length + width - 1);
    input.past = prefix.length > 0 ? &prefix.cache : nullptr; // shared, read in place
    input.logitIndices = targetIndex; // the [T, V] head product only where targets are scored
    return lm.forward(input).logits;  // [B, L, V]
}

at::Tensor studentTargetLogits(const model::CausalLM& lm, const at::Tensor& prefixEmbeds,
                               const at::Tensor& rowEmbeds, const std::vector<std::int64_t>& rowLengths,
                               const at::Tensor& targetIndex)
{
    const std::int64_t count = rowEmbeds.size(0);
    const std::int64_t width = rowEmbeds.size(1);
    const std::int64_t prefixLength = prefixEmbeds.size(0);
    const at::Device device = rowEmbeds.device();
    const at::Tensor prefix = prefixEmbeds.to(rowEmbeds.scalar_type()).unsqueeze(0); // [1, P0, d]
    if (count == 1 || prefixLength == 0) { // a single forward over prefix ⊕ row
        const std::int64_t total = prefixLength + width;
        model::ForwardInput input;
        input.inputsEmbeds = at::cat({prefix.expand({count, prefixLength, rowEmbeds.size(2)}), rowEmbeds},
                                     1); // [B, P0 + T, d]
        input.positions =
            at::arange(total, longOn(device)).unsqueeze(0).expand({count, total}).contiguous(); // [B, P0 + T]
        input.positionRange = std::make_pair(std::int64_t(0), total - 1);
        input.attentionMask = at::cat({at::ones({count, prefixLength}, longOn(device).dtype(at::kBool)),
                                       validSlots(rowLengths, width, device)},
                                      1);                // [B, P0 + T]
        input.logitIndices = targetIndex + prefixLength; // [B, L]
        return lm.forward(input).logits;                 // [B, L, V]
    }
    // The prefix (BOS ⊕ σ) is the same for every row: run it once, with gradients, and let the
    // batch of rows attend to its keys and values (broadcast, not copied). Gradients from every
    // row flow back through that one prefix pass; the result equals the single long forward.
    model::ForwardInput prefixInput;
    prefixInput.inputsEmbeds = prefix;
    prefixInput.positions = at::arange(prefixLength, longOn(device)).unsqueeze(0); // [1, P0]
    prefixInput.positionRange = std::make_pair(std::int64_t(0), prefixLength - 1);
    prefixInput.attentionMask = at::ones({1, prefixLength}, longOn(device).dtype(at::kBool)); // [1, P0]
    prefixInput.returnCache = true;
    prefixInput.hiddenOnly = true; // the prefix's logits are never used: no head product for them
    const model::KVCache past = lm.forward(prefixInput).cache.expandedTo(count);

    model::ForwardInput input;
    input.inputsEmbeds = rowEmbeds; // [B, T, d]
    input.positions = at::arange(prefixLength, prefixLength + width, longOn(device))
                          .unsqueeze(0)
                          .expand({count, width})
                          .contiguous(); // [B, T]
    input.attentionMask = at::cat({at::ones({count, prefixLength}, longOn(device).dtype(at::kBool)),
                                   validSlots(rowLengths, width, device)},
                                  1); // [B, P0 + T]
    input.positionRange = std::make_pair(prefixLength, prefixLength + width - 1);
    input.past = &past;
    input.logitIndices = targetIndex; // [B, L]
    return lm.forward(input).logits;  // [B, L, V]
}

} // namespace sp::engine
