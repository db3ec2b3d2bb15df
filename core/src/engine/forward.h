#pragma once
// Running the frozen model for the engine: a shared prefix's KV cache (B = 1), batches of token
// rows after it (right-padded, one forward), greedy decoding, and the student's training forward.
#include "engine/engine_model.h"

#include <vector>

namespace sp::engine {

// A small CPU tensor on `device`. To a GPU it goes through pinned memory and does not block: a plain
// copy there makes the host wait until all queued work is done, once per training step.
at::Tensor toDeviceWithoutWaiting(const at::Tensor& cpu, at::Device device);

struct PrefixState {
    model::KVCache cache;    // a shared prefix (sharedKeys per layer [1, Hkv, P, Dh]); empty when P = 0
    std::int64_t length = 0; // P
};

// The prefix's KV cache from embeddings [1, P, d] (P may be 0). No gradients.
PrefixState prefixFromEmbeddings(const model::CausalLM& lm, const at::Tensor& embeds);

// Rows of token ids after a prefix, right-padded into one batch.
struct RowBatch {
    at::Tensor ids;                    // [B, T] int64, padded with 0
    at::Tensor positions;              // [B, T] int64, P + 0..T-1
    at::Tensor mask;                   // [B, P + T] bool, false on padding
    std::vector<std::int64_t> lengths; // valid tokens per row
};
RowBatch makeRowBatch(const std::vector<std::vector<std::int32_t>>& rows, std::int64_t prefixLength,
                      at::Device device);

// One forward of `batch` after `prefix` (no gradients): logits [B, T, V] (+ the cache if asked).
model::ForwardOutput forwardRows(const model::CausalLM& lm, const PrefixState& prefix, const RowBatch& batch,
                                 bool returnCache);

struct GreedyResult {
    std::vector<std::vector<std::int32_t>> tokens; // per row: up to maxNew tokens, ending at a stop id
    at::Tensor stepLogits; // [B, maxNew, V] float32 logits that chose each token (rows past their end: junk)
};
// Greedy decoding of up to `maxNew` tokens after prefix ⊕ row, for every row at once.
GreedyResult greedyAfterPrefix(const model::CausalLM& lm, const PrefixState& prefix,
                               const std::vector<std::vector<std::int32_t>>& rows, int maxNew,
                               const std::vector<std::int32_t>& stopIds);

// Logits at the target positions of embedded rows after a cached prefix (no gradients):
//   rowEmbeds [B, T, d], rowLengths (host), targetIndex [B, L] → [B, L, V] float32.
at::Tensor targetLogitsAfterPrefix(const model::CausalLM& lm, const PrefixState& prefix,
                                   const at::Tensor& rowEmbeds, const std::vector<std::int64_t>& rowLengths,
                                   const at::Tensor& targetIndex);

// The student's logits at the target positions, with gradients to `prefixEmbeds`:
//   prefixEmbeds [P0, d] (the fixed prefix ⊕ σ, any float dtype), rowEmbeds [B, T, d] (model dtype),
//   rowLengths (host), targetIndex [B, L] int64 row positions → [B, L, V] float32.
// For B > 1 the shared prefix runs once (B = 1) and the rows attend to its KV cache.
at::Tensor studentTargetLogits(const model::CausalLM& lm, const at::Tensor& prefixEmbeds,
                               const at::Tensor& rowEmbeds, const std::vector<std::int64_t>& rowLengths,
                               const at::Tensor& targetIndex);

} // namespace sp::engine
