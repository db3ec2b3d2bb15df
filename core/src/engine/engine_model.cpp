#include "engine/engine_model.h"

#include "softprompt/error.h"

#include <algorithm>

#include "model/loaded_model.h"
#include "model/handle_access.h"

namespace sp::engine {

namespace {

// The ids the tokenizer's post-processor puts before a text (BOS for Llama): encode a probe with
// and without special tokens and keep what comes before the plain ids.
std::vector<std::int32_t> leadingSpecialIds(const Tokenizer& tokenizer)
{
    const std::string probe = "a";
    const std::vector<std::int32_t> plain = tokenizer.encode(probe, false);
    const std::vector<std::int32_t> decorated = tokenizer.encode(probe, true);
    if (plain.empty() || decorated.size() <= plain.size())
        return {};
    const auto found = std::search(decorated.begin(), decorated.end(), plain.begin(), plain.end());
    if (found == decorated.end())
        return {};
    return std::vector<std::int32_t>(decorated.begin(), found);
}

std::string dtypeName(at::ScalarType type)
{
    switch (type) {
    case at::kHalf:
        return "float16";
    case at::kBFloat16:
        return "bfloat16";
    default:
        return "float32";
    }
}

} // namespace

EngineModel engineModelFromTokenizer(std::shared_ptr<const model::CausalLM> lm, const Tokenizer& tokenizer,
                                     const std::string& identity)
{
    if (!lm)
        throw Error("no model is loaded");
    EngineModel engineModel;
    engineModel.encode = [tokenizer](const std::string& text) { return tokenizer.encode(text, false); };
    engineModel.decode = [tokenizer](const std::vector<std::int32_t>& ids) {
        return tokenizer.decode(ids, true);
    };
    engineModel.piece = [tokenizer](std::int32_t id) { return tokenizer.decode({id}, false); };
    engineModel.decodeAll = [tokenizer](const std::vector<std::int32_t>& ids) {
        return tokenizer.decode(ids, false);
    };
    engineModel.isSpecial = [tokenizer](std::int32_t id) { return tokenizer.isSpecial(id); };
    engineModel.prefixIds = leadingSpecialIds(tokenizer);
    for (std::int64_t id : lm->config().eosTokenIds)
        engineModel.stopIds.push_back(std::int32_t(id));
    engineModel.identity =
        identity + "|" + (lm->device().is_cuda() ? "cuda" : "cpu") + "|" + dtypeName(lm->dtype());
    engineModel.lm = std::move(lm);
    return engineModel;
}

EngineModel engineModelFromHandle(const ModelHandle& handle)
{
    const model::LoadedModel& loaded = model::loadedModel(handle);
    EngineModel engineModel =
        engineModelFromTokenizer(loaded.causalLM(), loaded.tokenizer(), handle.summary().identity);
    engineModel.stopIds.clear();
    for (std::int64_t id : loaded.stopIds())
        engineModel.stopIds.push_back(std::int32_t(id));
    engineModel.chatFiles = loaded.chatFiles();
    return engineModel;
}

void useByteLevelCodec(EngineModel& model)
{
    model.encode = [](const std::string& text) {
        return std::vector<std::int32_t>(reinterpret_cast<const unsigned char*>(text.data()),
                                         reinterpret_cast<const unsigned char*>(text.data()) + text.size());
    };
    model.decode = [](const std::vector<std::int32_t>& ids) {
        std::string text;
        for (std::int32_t id : ids)
            if (id >= 0 && id < 256)
                text.push_back(char(id));
        return text;
    };
    model.piece = [](std::int32_t id) {
        return id >= 0 && id < 256 ? std::string(1, char(id)) : std::string("<special>");
    };
    model.decodeAll = [piece = model.piece](const std::vector<std::int32_t>& ids) {
        std::string text;
        for (std::int32_t id : ids)
            text += piece(id);
        return text;
    };
    model.isSpecial = [](std::int32_t id) { return id >= 256; };
}

} // namespace sp::engine
