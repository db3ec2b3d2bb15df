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
    std::vector<at::Tensor> keys;   // per layer: [B, Hkv, P, Dh], this cache's own positions
    std::vector<at::Tensor> values; // per layer: [B, Hkv, P, Dh]
    // A prefix that every row continues, stored once (per layer [1, Hkv, Ps, Dh]) before the own
    // positions above. forward() attends to it in place: it is never repeated per row or copied per
    // decoded token, and a cache that forward() returns after it holds the same tensors here plus
    // only the new positions in keys/values. Empty for an ordinary cache.
    std::vector<at::Tensor> sharedKeys;
    std::vector<at::Tensor> sharedValues;
    std::int64_t length() const; // Ps + P (0 when empty)
    std::int64_t sharedLength() const { return sharedKeys.empty() ? 0 : sharedKeys.front().size(2); }
    bool empty() const { return keys.empty() && sharedKeys.empty(); }
    std::size_t layerCount() const { return sharedKeys.empty() ? keys.size() : sharedKeys.size(); }
    // The same cache repeated along the batch (a [1, ...] cache becomes [batch, ...]) without copying
    // where torch can broadcast. Forward passes on an expanded cache still copy it into each row's
    // keys; asSharedPrefix() avoids that.
    KVCache expandedTo(std::int64_t batch) const;
    // This batch-1 cache as a shared prefix (the same tensors, no copy) for continuations of any batch.
    KVCache asSharedPrefix() const;
};

struct ForwardOutput {
    // [B, T, V] (or [B, N, V] with logitIndices), float32 for float32/float16/bfloat16 models (a
    // half-precision head product is cast, as transformers does); float64 for a float64 model
    // (gradient checks).
    at::Tensor logits;
    KVCache cache; // past + these T tokens, only when requested
    // [B, T, d] final-norm hidden states instead of logits, with ForwardInput::hiddenOnly.
    at::Tensor hidden;
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
    // Return the final hidden states and skip the head: a long prefill then scores its positions in
    // chunks with logitsFromHidden() instead of holding [T, V] logits (8k tokens x 152k ≈ 5 GB).
    bool hiddenOnly = false;
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

// How a float16/bfloat16 model computes. Its matrices stay in half precision in memory either way.
//   Native: activations and matrix products in the half type (CUDA; on the CPU bfloat16 only, and
//           LibTorch 1.13's CPU bfloat16 GEMM is about 30x slower than float32 without AVX512-BF16).
//   Float32: activations in float32; each matrix is converted to float32 block by block as it is used
//           (linearConverted), so memory holds the half-precision weights plus one block.
//   Auto: Native on CUDA, Float32 on the CPU.
enum class HalfCompute { Auto, Native, Float32 };
HalfCompute halfComputeFromName(const std::string& name); // "auto", "native", "float32"; throws otherwise

class CausalLM {
public:
    // Loads a Hugging Face folder (config.json + safetensors). Weights are frozen
    // (requires_grad false) unless setTrainable(true) is called.
    // Weights used as stored (the file's dtype, on the CPU, not fused) are views into the memory-mapped
    // safetensors files, not copies; the files stay mapped while such a tensor lives.
    static std::shared_ptr<CausalLM> loadFolder(const std::string& folder, at::Device device,
                                                at::ScalarType dtype, HalfCompute compute = HalfCompute::Auto);
    // A seeded random model (tests, demo-model pretraining); the draw happens on the CPU in float32,
    // so the same seed gives the same weights on every device.
    static std::shared_ptr<CausalLM> createRandom(const ModelConfig& config, std::uint64_t seed,
                                                  at::Device device = at::kCPU,
                                                  at::ScalarType dtype = at::kFloat,
                                                  const RandomInit& init = {},
                                                  HalfCompute compute = HalfCompute::Auto);

    const ModelConfig& config() const;
    at::Device device() const;
    at::ScalarType dtype() const;       // of the activations (and embed()); float32 under HalfCompute::Float32
    at::ScalarType weightDtype() const; // of the weight matrices as stored in memory
    std::int64_t maxPositions() const; // position table size / max_position_embeddings

    at::Tensor embed(const at::Tensor& ids) const; // [B, T] int64 -> [B, T, d] in dtype()
    at::Tensor embeddingMatrix() const;            // [V, d] (no copy)
    double embedScale() const; // embed() gives embeddingMatrix() rows times this (Gemma 3: √d; else 1)
    ForwardOutput forward(const ForwardInput& input) const;
    // The head on final hidden states: [N, d] -> [N, V] logits (float32; float64 for a float64 model).
    at::Tensor logitsFromHidden(const at::Tensor& hidden) const;

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

// Applies the process-wide count of OpenMP (intra-op) threads once: OMP_NUM_THREADS when set; else
// one where GEMMs run in OpenBLAS's own thread pool (Debian's LibTorch: two spin-waiting pools on
// the same cores made the σ step 2–4× slower), and every core that the one-minute load average
// leaves free where MKL runs GEMMs on the OpenMP pool.
void configureCpuThreads();
int chooseCpuThreads(); // what configureCpuThreads applies

} // namespace sp::model
