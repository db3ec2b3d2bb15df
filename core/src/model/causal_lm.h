#pragma once
// The frozen causal language model (GPT-2 and the Llama family) in LibTorch. Internal to core:
// torch types are allowed here, never in include/softprompt/.
//
// Conventions: B = batch, T = new tokens, P = cached (past) tokens, d = hidden size,
// V = vocabulary, H = heads, Hkv = key/value heads, Dh = head dim.
#include "softprompt/model_config.h"
#include "torch_common.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sp::model {

// Keys and values of every layer for a prefix. Built once for the long context and shared,
// read-only, by many continuations (the queries).
struct KVCache {
    std::vector<at::Tensor> keys;   // per layer: [B, Hkv, P, Dh]
    std::vector<at::Tensor> values; // per layer: [B, Hkv, P, Dh]
    std::int64_t length() const;    // P (0 when empty)
    bool empty() const { return keys.empty(); }
    // The same cache repeated along the batch (a [1, ...] cache becomes [batch, ...]) without copying
    // where torch can broadcast.
    KVCache expandedTo(std::int64_t batch) const;
};

struct ForwardOutput {
    // [B, T, V] (or [B, N, V] with logitIndices), float32 for float32/float16/bfloat16 models (a
    // half-precision head product is cast, as transformers does); float64 for a float64 model
    // (gradient checks).
    at::Tensor logits;
    KVCache cache; // past + these T tokens, only when requested
};

struct ForwardInput {
    at::Tensor inputsEmbeds;  // [B, T, d] in the model's dtype (or float32: cast on entry)
    at::Tensor positions;     // [B, T] int64 position ids; padded slots may hold anything
    at::Tensor attentionMask; // [B, P + T] bool, true = may be attended to (false = padding);
                              // undefined = every position valid
    const KVCache* past = nullptr;
    bool returnCache = false;
    // Optional [B, N] int64 indices into the T new tokens: logits only for those positions
    // ([B, N, V]), which saves the [T, V] head product when only a few positions are scored.
    at::Tensor logitIndices;
    // The smallest and largest position id in `positions`, when the caller built them and knows
    // (an arange): the window check then reads nothing back from the device. Unset: forward()
    // reads them, which on a GPU is a host synchronisation per call.
    std::optional<std::pair<std::int64_t, std::int64_t>> positionRange;
};

// How createRandom draws weights: N(0, weightStd) matrices (GPT-2's residual projections scaled by
// 1/sqrt(2 * layers)), norms 1 and biases 0 as transformers initialises them. Tests set
// randomizeNormsAndBiases so that those paths are exercised too.
struct RandomInit {
    double weightStd = 0.02;
    bool randomizeNormsAndBiases = false;
};

class CausalLM {
public:
    // Loads a Hugging Face folder (config.json + safetensors). Weights are frozen
    // (requires_grad false) unless setTrainable(true) is called.
    static std::shared_ptr<CausalLM> loadFolder(const std::string& folder, at::Device device,
                                                at::ScalarType dtype);
    // A seeded random model (tests, demo-model pretraining); the draw happens on the CPU in float32,
    // so the same seed gives the same weights on every device.
    static std::shared_ptr<CausalLM> createRandom(const ModelConfig& config, std::uint64_t seed,
                                                  at::Device device = at::kCPU,
                                                  at::ScalarType dtype = at::kFloat,
                                                  const RandomInit& init = {});

    const ModelConfig& config() const;
    at::Device device() const;
    at::ScalarType dtype() const;
    std::int64_t maxPositions() const; // position table size / max_position_embeddings

    at::Tensor embed(const at::Tensor& ids) const; // [B, T] int64 -> [B, T, d]
    at::Tensor embeddingMatrix() const;            // [V, d] (no copy)
    ForwardOutput forward(const ForwardInput& input) const;

    // Convenience: ids [B, T] with every position valid, positions 0..T-1 (after any past).
    ForwardOutput forwardIds(const at::Tensor& ids, const KVCache* past = nullptr,
                             bool returnCache = false) const;

    // Throws sp::Error naming the lengths when `totalTokens` exceeds the window (or the sliding
    // window, where sequences beyond it would change the numerics).
    void checkSequenceLength(std::int64_t totalTokens, const std::string& what) const;

    // Named weights in Hugging Face naming, for saving and for pretraining.
    std::vector<std::pair<std::string, at::Tensor>> namedParameters() const;
    // Trainable weights are separate leaves that require grad (the frozen layout fuses q/k/v and
    // gate/up into shared matrices, whose slices namedParameters() then returns).
    void setTrainable(bool trainable);
    bool isTrainable() const;
    void save(const std::string& folder) const; // config.json + model.safetensors (F32)

    virtual ~CausalLM();
    struct Impl;

private:
    explicit CausalLM(std::unique_ptr<Impl> impl);
    static std::shared_ptr<CausalLM> fromImpl(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// Applies the process-wide CPU thread count once (Debian's LibTorch otherwise starts with one
// OpenMP thread): OMP_NUM_THREADS when set, else every core that the one-minute load average leaves
// free (at least one), because libgomp's spin-waiting collapses when threads outnumber free cores.
void configureCpuThreads();
int chooseCpuThreads(); // what configureCpuThreads applies

} // namespace sp::model
