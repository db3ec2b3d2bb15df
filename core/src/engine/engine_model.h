#pragma once
// What the engine needs from a model: the frozen CausalLM, text ↔ ids, the special ids around a
// text, and a stable identity for the teacher cache. Built from a ModelHandle, or directly from a
// CausalLM and a Tokenizer (tests and benchmarks on random models).
#include "model/causal_lm.h"
#include "softprompt/chat_model_files.h"
#include "softprompt/model_handle.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace sp::engine {

struct EngineModel {
    std::shared_ptr<const model::CausalLM> lm;
    std::function<std::vector<std::int32_t>(const std::string&)> encode; // without special tokens
    std::function<std::string(const std::vector<std::int32_t>&)> decode; // skipping special tokens
    std::function<std::string(std::int32_t)> piece; // one token as text, special tokens included
    std::function<std::string(const std::vector<std::int32_t>&)> decodeAll; // special tokens kept as text
    std::function<bool(std::int32_t)> isSpecial;
    // The ids the tokenizer puts before every text (BOS for Llama-family models, nothing for
    // GPT-2 and Qwen2). Teacher and student both start with them: [BOS] c z and [BOS] σ z.
    std::vector<std::int32_t> prefixIds;
    std::vector<std::int32_t> stopIds; // greedy decoding stops after one of these (EOS)
    std::string identity;              // model files' hash (+ device and dtype for the caches)
    ChatModelFiles chatFiles;          // the folder's chat template(s) and special-token strings
};

// `identity` names the weights (e.g. ModelSummary::identity); device and dtype are appended.
EngineModel engineModelFromTokenizer(std::shared_ptr<const model::CausalLM> lm, const Tokenizer& tokenizer,
                                     const std::string& identity);
EngineModel engineModelFromHandle(const ModelHandle& handle);

// A byte-level codec for random models (benchmarks, tests): ids 0..255 are the bytes of the UTF-8
// text, ids from 256 up are special (BOS, EOS) and decode to nothing. Sets encode, decode, piece and
// isSpecial; the caller sets prefixIds, stopIds and identity.
void useByteLevelCodec(EngineModel& model);

} // namespace sp::engine
