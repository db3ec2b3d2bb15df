#pragma once
// What ModelHandle holds: the torch model, its tokenizer and its summary. Core-internal; the
// engine reaches it through ModelHandle::impl().
#include "model/causal_lm.h"
#include "softprompt/chat_model_files.h"
#include "softprompt/model_handle.h"

#include <memory>
#include <optional>
#include <string>

namespace sp::model {

class LoadedModel {
public:
    // `pathOrDemo`: a Hugging Face folder or "demo". The tokenizer is optional (a folder with
    // only weights still runs forward passes); tokenizer() then throws saying so.
    static std::shared_ptr<LoadedModel> load(const std::string& pathOrDemo, const ModelLoadOptions& options);
    // A seeded random model of `config` made in memory (benchmarks); `name` names it in the summary.
    static std::shared_ptr<LoadedModel> createRandom(const ModelConfig& config, const std::string& name,
                                                     const ModelLoadOptions& options, std::uint64_t seed);
    LoadedModel(std::shared_ptr<CausalLM> model, std::optional<Tokenizer> tokenizer, ModelSummary summary);

    const CausalLM& model() const { return *model_; }
    std::shared_ptr<CausalLM> causalLM() const { return model_; }
    const Tokenizer& tokenizer() const;
    const ModelSummary& summary() const { return summary_; }
    double loadSeconds() const { return loadSeconds_; }
    double identitySeconds() const { return identitySeconds_; }

    // The ids that end generation: config.json's eos_token_id(s) and generation_config.json's.
    std::vector<std::int64_t> stopIds() const;
    // The folder's chat template(s), special-token strings and EOS ids (empty for folders without them).
    const ChatModelFiles& chatFiles() const { return chatFiles_; }

private:
    std::shared_ptr<CausalLM> model_;
    std::optional<Tokenizer> tokenizer_;
    ModelSummary summary_;
    ChatModelFiles chatFiles_;
    double loadSeconds_ = 0.0;
    double identitySeconds_ = 0.0;
};

// "cpu", "cuda", "cuda:1" -> a device; throws sp::Error when CUDA is asked for but unavailable.
at::Device parseDevice(const std::string& name);
// "float32", "float16", "bfloat16" (and fp32/fp16/bf16) -> a dtype; throws sp::Error otherwise.
at::ScalarType parseDtype(const std::string& name);
std::string dtypeLabel(at::ScalarType dtype);
// The folder "demo" refers to; throws sp::Error saying the demo model is not built yet when absent.
std::string resolveModelFolder(const std::string& pathOrDemo);

} // namespace sp::model
