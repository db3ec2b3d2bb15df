#pragma once
// A model family: its weight names and shapes, and its forward maths. Each family has its own file
// (family_gpt2.cpp, family_llama.cpp, family_qwen3.cpp, family_phi3.cpp, family_gemma2.cpp,
// family_gemma3.cpp), so adding one touches no other; the pieces several share are in
// decoder_blocks.h. CausalLM::forward does what every family does the same way (masks, RoPE tables,
// the KV cache, the head) and asks the family for the rest.
#include "model/causal_lm_impl.h"

#include <string>
#include <vector>

namespace sp::model {

// What every layer of one forward call shares.
struct LayerContext {
    std::int64_t batch = 0;
    std::int64_t length = 0;
    const at::Tensor* sharedKeys = nullptr;   // [1, Hkv, Ps, Dh]: a shared prefix, attended in place
    const at::Tensor* sharedValues = nullptr; // [1, Hkv, Ps, Dh]
    const at::Tensor* pastKeys = nullptr;     // [B or 1, Hkv, P, Dh]
    const at::Tensor* pastValues = nullptr;   // [B or 1, Hkv, P, Dh]
    const AttentionMask* mask = nullptr;        // causal + padding
    const AttentionMask* slidingMask = nullptr; // also limited to the sliding window (else = mask)
    const std::vector<RotaryTables>* rotary = nullptr; // one per Impl::rotary entry
    KVCache* cacheOut = nullptr;
};

class ModelFamily {
public:
    virtual ~ModelFamily() = default;

    virtual std::string weightPrefix() const { return "model."; }
    // Used when config.activation is empty (configs built in code).
    virtual std::string defaultActivation() const { return "silu"; }
    // Family-specific checks beyond the shared ones; throws sp::Error.
    virtual void validate(const ModelConfig& config) const;
    // Every weight in file order, named as transformers saves them.
    virtual void addParameters(CausalLM::Impl& model, std::vector<ParameterSlot>& slots) const = 0;
    // The RoPE embeddings this family uses (none for GPT-2).
    virtual std::vector<RopeParameters> ropes(const ModelConfig& config) const;

    // inputs_embeds [B, T, d] in the model dtype and positions [B, T] -> the first hidden state [B*T, d].
    virtual at::Tensor inputHidden(const CausalLM::Impl& model, const at::Tensor& embeds,
                                   const at::Tensor& positions) const;
    // The embedding rows of token ids [B, T] -> [B, T, d] (Gemma 3 scales them here).
    virtual at::Tensor embedTokens(const CausalLM::Impl& model, const at::Tensor& ids) const;
    // The factor embedTokens() applies to the rows: 1, or Gemma 3's √d as the weight dtype holds it.
    virtual double embedScale(const CausalLM::Impl& /*model*/) const { return 1.0; }
    // One decoder layer: hidden [B*T, d] -> [B*T, d], appending its keys/values to the cache.
    virtual at::Tensor layer(const CausalLM::Impl& model, std::size_t index, const at::Tensor& hidden,
                             const LayerContext& context) const = 0;
    virtual at::Tensor finalNorm(const CausalLM::Impl& model, const at::Tensor& hidden) const;
    // Logits [B, T, V] in the model dtype -> logits (Gemma 2 soft-caps them).
    virtual at::Tensor finishLogits(const CausalLM::Impl& model, const at::Tensor& logits) const;

    // Frozen layout: q/k/v and gate/up share one matrix each; trainable: separate leaves.
    virtual void fuse(CausalLM::Impl& model) const;
    virtual void unfuse(CausalLM::Impl& model) const;
    virtual bool headTied(const ModelConfig& config) const { return config.tieWordEmbeddings; }
    // True when sliding-window layers are masked as transformers masks them; false refuses
    // sequences longer than the window instead.
    virtual bool masksSlidingWindow() const { return false; }
    // Checkpoint entries that are buffers, not weights, and are skipped by strict loading.
    virtual bool isBufferName(const std::string& name) const;
};

const ModelFamily& familyFor(Architecture architecture);

// The longest sequence a model of this config runs: max_position_embeddings, or the sliding window
// where the family refuses sequences beyond it (Mistral, Qwen2/3); Phi-3 and Gemma mask the window.
std::int64_t longestSequence(const ModelConfig& config);

// The families (one per file).
const ModelFamily& gpt2Family();
const ModelFamily& llamaFamily();
const ModelFamily& qwen3Family();
const ModelFamily& phi3Family();
const ModelFamily& gemma2Family();
const ModelFamily& gemma3Family();

} // namespace sp::model
