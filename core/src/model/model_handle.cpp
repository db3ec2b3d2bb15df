#include "softprompt/model_handle.h"

#include "model/generation.h"
#include "model/loaded_model.h"
#include "softprompt/error.h"

namespace sp {

ModelHandle ModelHandle::load(const std::string& pathOrDemo, const ModelLoadOptions& options)
{
    ModelHandle handle;
    handle.impl_ = model::LoadedModel::load(pathOrDemo, options);
    return handle;
}

model::LoadedModel& ModelHandle::impl() const
{
    if (!impl_)
        throw Error("no model is loaded");
    return *impl_;
}

const ModelSummary& ModelHandle::summary() const
{
    return impl().summary();
}

const Tokenizer& ModelHandle::tokenizer() const
{
    return impl().tokenizer();
}

const ChatModelFiles& ModelHandle::chatFiles() const
{
    return impl().chatFiles();
}

std::vector<std::int32_t> ModelHandle::generateIds(const std::vector<std::int32_t>& promptIds,
                                                   int maxNewTokens) const
{
    const model::LoadedModel& loaded = impl();
    const std::vector<std::int64_t> prompt(promptIds.begin(), promptIds.end());
    const std::vector<std::int64_t> generated =
        model::greedyDecode(loaded.model(), prompt, maxNewTokens, loaded.stopIds());
    return std::vector<std::int32_t>(generated.begin(), generated.end());
}

std::string ModelHandle::generate(const std::string& prompt, int maxNewTokens) const
{
    const Tokenizer& tokenizer = impl().tokenizer();
    const std::vector<std::int32_t> promptIds = tokenizer.encode(prompt, /*addSpecialTokens=*/true);
    if (promptIds.empty())
        throw Error("the prompt is empty after tokenisation; give some text");
    return tokenizer.decode(generateIds(promptIds, maxNewTokens), /*skipSpecialTokens=*/true);
}

std::vector<ModelHandle::PositionScore> ModelHandle::score(const std::string& text, int topK) const
{
    const model::LoadedModel& loaded = impl();
    const Tokenizer& tokenizer = loaded.tokenizer();
    const std::vector<std::int32_t> ids = tokenizer.encode(text, /*addSpecialTokens=*/true);
    if (ids.empty())
        throw Error("the text is empty after tokenisation; give some text to score");
    if (topK < 1)
        throw Error("top-k must be at least 1 (got " + std::to_string(topK) + ")");
    const model::CausalLM& model = loaded.model();
    model.checkSequenceLength(std::int64_t(ids.size()), "the text");
    c10::InferenceMode inference;
    const at::Tensor idTensor = at::tensor(std::vector<std::int64_t>(ids.begin(), ids.end()), at::kLong)
                                    .view({1, std::int64_t(ids.size())}); // [1, T]
    const at::Tensor logits = model.forwardIds(idTensor).logits[0];       // [T, V]
    const std::int64_t k = std::min<std::int64_t>(topK, logits.size(1));
    const auto [probabilities, indices] = at::softmax(logits, -1).topk(k, -1); // [T, k], [T, k]
    const at::Tensor probabilitiesCpu = probabilities.to(at::kCPU, at::kDouble).contiguous(); // [T, k]
    const at::Tensor indicesCpu = indices.to(at::kCPU, at::kLong).contiguous();               // [T, k]
    const auto probabilityAt = probabilitiesCpu.accessor<double, 2>();
    const auto indexAt = indicesCpu.accessor<std::int64_t, 2>();
    const std::vector<std::string> pieces = tokenizer.decodePieces(ids);

    std::vector<PositionScore> scores;
    for (std::size_t position = 0; position < ids.size(); ++position) {
        PositionScore score;
        score.token = ids[position];
        score.text = position < pieces.size() ? pieces[position] : std::string();
        for (std::int64_t rank = 0; rank < k; ++rank) {
            TokenProbability candidate;
            candidate.id = std::int32_t(indexAt[std::int64_t(position)][rank]);
            candidate.text = tokenizer.decode({candidate.id});
            candidate.probability = probabilityAt[std::int64_t(position)][rank];
            score.topK.push_back(std::move(candidate));
        }
        scores.push_back(std::move(score));
    }
    return scores;
}

std::vector<float> ModelHandle::logits(const std::vector<std::int32_t>& ids) const
{
    if (ids.empty())
        throw Error("no token ids given; pass at least one id");
    const model::CausalLM& model = impl().model();
    model.checkSequenceLength(std::int64_t(ids.size()), "the ids");
    c10::InferenceMode inference;
    const at::Tensor idTensor = at::tensor(std::vector<std::int64_t>(ids.begin(), ids.end()), at::kLong)
                                    .view({1, std::int64_t(ids.size())}); // [1, T]
    const at::Tensor values =
        model.forwardIds(idTensor).logits[0].to(at::kCPU, at::kFloat).contiguous(); // [T, V]
    return std::vector<float>(values.data_ptr<float>(), values.data_ptr<float>() + values.numel());
}

} // namespace sp
