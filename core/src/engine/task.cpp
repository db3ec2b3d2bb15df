// CompressionTask: tokenised inputs, validation, the held-out split, σ initialisation and the
// cached teacher.
#include "engine/task.h"

#include "engine/engine_model.h"
#include "engine/statistics.h"
#include "softprompt/error.h"
#include "softprompt/hash.h"
#include "softprompt/text.h"

#include <algorithm>
#include <cmath>

namespace sp {

using engine::ContextState;
using engine::TeacherRecord;

namespace {

std::string idsDigest(const std::vector<std::int32_t>& ids)
{
    return sha256Hex(
        std::string_view(reinterpret_cast<const char*>(ids.data()), ids.size() * sizeof(std::int32_t)));
}

std::string deviceKey(at::Device device)
{
    return device.is_cuda() ? "cuda" : "cpu";
}

} // namespace

static std::string layoutKey(const std::string& identity, const std::vector<std::int32_t>& pre,
                      const std::vector<std::int32_t>& context, const std::vector<std::int32_t>& mid)
{
    return sha256Hex(identity + "\x1fprefix\x1f" + idsDigest(pre) + "\x1f" + idsDigest(context) + "\x1fmid\x1f" +
                     idsDigest(mid));
}

CompressionTask::Impl::Impl(ModelHandle handle_, engine::EngineModel model_, std::string context_,
                            std::vector<Query> queries_, PromptFormat format, const std::string& templateName)
    : handle(std::move(handle_)), model(std::move(model_)), context(std::move(context_)),
      queries(std::move(queries_))
{
    if (!model.lm)
        throw Error("no model is loaded; load a model before creating a compression task");
    model::configureCpuThreads();
    std::vector<std::string> texts;
    for (const Query& query : queries)
        texts.push_back(query.text);
    engine::TokenizedPrompt prompt;
    if (resolvePromptFormat(format, model.chatFiles) == PromptFormat::Chat) {
        const engine::ChatPrompt chat(model.chatFiles, templateName);
        promptPieces = chat.pieces();
        prompt = engine::tokenizeChat(chat, model.encode, context, texts);
    } else {
        prompt = engine::tokenizePlain(model.encode, model.prefixIds, context, texts);
        promptPieces.pre = model.decodeAll ? model.decodeAll(model.prefixIds) : std::string();
        promptPieces.noContextPre = promptPieces.pre;
    }
    preIds = std::move(prompt.pre);
    contextIds = std::move(prompt.context);
    midIds = std::move(prompt.mid);
    noContextIds = std::move(prompt.noContext);
    queryIds = std::move(prompt.rows);
    for (std::size_t i = 0; i < texts.size(); ++i) // the record key: the query and what follows it
        queryTexts.push_back(promptPieces.format == PromptFormat::Chat ? "chat:" + idsDigest(queryIds[i])
                                                                       : texts[i]);
    contextKey = layoutKey(model.identity, preIds, contextIds, midIds);
}

void CompressionTask::Impl::setTokenIds(std::vector<std::int32_t> newContext,
                                        std::vector<std::vector<std::int32_t>> newQueries)
{
    contextIds = std::move(newContext);
    queryIds = std::move(newQueries);
    queryTexts.resize(queryIds.size());
    for (std::size_t i = 0; i < queryIds.size(); ++i)
        queryTexts[i] = "ids:" + idsDigest(queryIds[i]); // the cache keys queries by text
    contextKey = layoutKey(model.identity, preIds, contextIds, midIds);
}

void CompressionTask::Impl::validateInputs(const TrainConfig& config) const
{
    if (trimWhitespace(context).empty() || contextIds.empty())
        throw Error("the context is empty: write or load the long prompt that σ should compress");
    if (queries.empty())
        throw Error("there are no queries: add at least one query (a JSONL file with one {\"query\": "
                    "\"...\"} per line)");
    for (std::size_t i = 0; i < queries.size(); ++i)
        if (queryIds[i].empty())
            throw Error("query " + std::to_string(i + 1) +
                        " is empty after tokenisation; remove it or write a query");
    const auto contextTokens = std::int64_t(contextIds.size());
    if (config.k < 1)
        throw Error("k must be at least 1 (got " + std::to_string(config.k) + ")");
    if (config.k > contextTokens)
        throw Error("k = " + std::to_string(config.k) + " is more than the context's " +
                    std::to_string(contextTokens) + " tokens, so σ would not compress anything; use k ≤ " +
                    std::to_string(contextTokens));
    if (!std::isfinite(config.temperature) || config.temperature <= 0.0)
        throw Error("the temperature must be a positive number (got " + std::to_string(config.temperature) +
                    ")");
    if (config.continuationLength < 1 || config.continuationLength > 1024)
        throw Error("the continuation length L must be between 1 and 1024 (got " +
                    std::to_string(config.continuationLength) + ")");
    if (config.teacherTopK < 1)
        throw Error("teacher top-K must be at least 1 (got " + std::to_string(config.teacherTopK) + ")");
    if (!(config.heldoutFraction >= 0.0 && config.heldoutFraction < 1.0))
        throw Error("the held-out fraction must be in [0, 1) (got " + std::to_string(config.heldoutFraction) +
                    ")");
    const std::string device = config.device.substr(0, config.device.find(':'));
    if (device != "cpu" && device != "cuda")
        throw Error("unknown device '" + config.device + "'; use cpu or cuda");
    if (device != deviceKey(model.lm->device()))
        throw Error("the training settings ask for device " + config.device + " but the model is loaded on " +
                    deviceKey(model.lm->device()) + "; load the model on " + device +
                    " or change the device");

    std::int64_t longestQuery = 0;
    for (const auto& ids : queryIds)
        longestQuery = std::max<std::int64_t>(longestQuery, std::int64_t(ids.size()));
    const auto prefix = std::int64_t(preIds.size() + midIds.size());
    const std::int64_t generated = config.continuationLength;
    model.lm->checkSequenceLength(prefix + contextTokens + longestQuery + generated,
                                  "context (" + std::to_string(contextTokens) + " tokens) + longest query (" +
                                      std::to_string(longestQuery) + ") + continuation (" +
                                      std::to_string(generated) + ")");
    model.lm->checkSequenceLength(prefix + config.k + longestQuery + generated,
                                  "σ (k = " + std::to_string(config.k) + ") + longest query + continuation");
}

void CompressionTask::Impl::validate(const TrainConfig& config) const
{
    validateInputs(config);
    if (config.steps < 1)
        throw Error("steps must be at least 1 (got " + std::to_string(config.steps) + ")");
    if (config.batchSize < 1)
        throw Error("the batch size must be at least 1 (got " + std::to_string(config.batchSize) + ")");
    if (std::isnan(config.learningRate) || config.learningRate <= 0.0)
        throw Error("the learning rate must be positive (got " + std::to_string(config.learningRate) + ")");
    if (config.optimizer != "adam" && config.optimizer != "adamw")
        throw Error("unknown optimizer '" + config.optimizer + "'; use adam or adamw");
    if (config.warmupSteps < 0 || config.evalInterval < 0 || config.checkpointInterval < 0 ||
        config.earlyStopPatience < 0 || !(config.gradClip >= 0.0) || !(config.weightDecay >= 0.0))
        throw Error(
            "warm-up steps, evaluation and checkpoint intervals, patience, gradient clip and weight decay "
            "must not be negative");
}

std::vector<bool> CompressionTask::Impl::heldoutMask(const TrainConfig& config) const
{
    std::vector<bool> heldout(queries.size(), false);
    bool marked = false;
    for (std::size_t i = 0; i < queries.size(); ++i) {
        heldout[i] = queries[i].heldOut;
        marked = marked || queries[i].heldOut;
    }
    if (marked || queries.size() < 2 || config.heldoutFraction <= 0.0)
        return heldout;
    const auto count = std::clamp<std::size_t>(
        std::size_t(std::llround(config.heldoutFraction * double(queries.size()))), 1, queries.size() - 1);
    std::vector<std::size_t> order(queries.size());
    for (std::size_t i = 0; i < order.size(); ++i)
        order[i] = i;
    engine::Random random(config.seed ^ 0x5eedf00dULL);
    random.shuffle(order);
    for (std::size_t i = 0; i < count; ++i)
        heldout[order[i]] = true;
    return heldout;
}

std::shared_ptr<const ContextState> CompressionTask::Impl::contextState() const
{
    return engine::contextState(model, preIds, contextIds, midIds, contextKey);
}

std::vector<std::shared_ptr<const TeacherRecord>>
CompressionTask::Impl::teacher(const TrainConfig& config, const engine::Progress& progress) const
{
    const auto state = contextState();
    const engine::TeacherSettings settings = engine::teacherSettings(config, model.lm->config().vocabSize);
    return engine::teacherRecords(model, *state, contextKey, queryTexts, queryIds, settings, progress);
}

at::Tensor CompressionTask::Impl::embedIds(const std::vector<std::int32_t>& ids) const
{
    at::NoGradGuard noGrad;
    const std::int64_t d = model.lm->config().hiddenSize;
    if (ids.empty())
        return at::zeros({0, d}, at::TensorOptions().dtype(at::kFloat).device(model.lm->device())); // [0, d]
    std::vector<std::int64_t> wide(ids.begin(), ids.end());
    const at::Tensor idTensor =
        at::tensor(wide, at::kLong).view({1, std::int64_t(wide.size())}).to(model.lm->device());
    return model.lm->embed(idTensor)[0].to(at::kFloat); // [n, d]
}

at::Tensor CompressionTask::Impl::aroundContext(const at::Tensor& middle) const
{
    if (preIds.empty() && midIds.empty())
        return middle;                                              // [n, d]
    return at::cat({embedIds(preIds), middle, embedIds(midIds)}, 0); // [|pre| + n + |mid|, d]
}

std::vector<std::int32_t> CompressionTask::Impl::keptContextIds(Condition condition, int k,
                                                                const std::vector<double>& surprisal) const
{
    const auto n = std::int64_t(contextIds.size());
    const std::int64_t budget = std::min<std::int64_t>(k, n);
    switch (condition) {
    case Condition::FirstK:
        return std::vector<std::int32_t>(contextIds.begin(), contextIds.begin() + budget);
    case Condition::LastK:
        return std::vector<std::int32_t>(contextIds.end() - budget, contextIds.end());
    case Condition::PrunedHardPrompt: {
        // LLMLingua-style: keep the k tokens the teacher found most surprising, in their order.
        std::vector<std::int64_t> order(static_cast<std::size_t>(n));
        for (std::int64_t i = 0; i < n; ++i)
            order[std::size_t(i)] = i;
        std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
            return surprisal[std::size_t(a)] > surprisal[std::size_t(b)];
        });
        order.resize(std::size_t(budget));
        std::sort(order.begin(), order.end());
        std::vector<std::int32_t> kept;
        for (std::int64_t index : order)
            kept.push_back(contextIds[std::size_t(index)]);
        return kept;
    }
    default:
        return contextIds;
    }
}

std::vector<std::int32_t> CompressionTask::Impl::conditionPromptIds(Condition condition, int k,
                                                                    std::size_t query) const
{
    const std::vector<std::int32_t>& row = queryIds.at(query);
    std::vector<std::int32_t> ids;
    if (condition == Condition::NoContext) {
        ids = noContextIds;
    } else {
        std::vector<std::int32_t> middle;
        if (condition == Condition::SoftPrompt)
            middle.assign(std::size_t(std::max(k, 0)), -1);
        else if (condition == Condition::FullContext)
            middle = contextIds;
        else
            middle = keptContextIds(condition, k,
                                    condition == Condition::PrunedHardPrompt ? contextState()->surprisal
                                                                             : std::vector<double>{});
        ids = preIds;
        ids.insert(ids.end(), middle.begin(), middle.end());
        ids.insert(ids.end(), midIds.begin(), midIds.end());
    }
    ids.insert(ids.end(), row.begin(), row.end());
    return ids;
}

at::Tensor CompressionTask::Impl::initialSigma(const TrainConfig& config) const
{
    at::NoGradGuard noGrad;
    const model::CausalLM& lm = *model.lm;
    const std::int64_t k = config.k;
    const std::int64_t d = lm.config().hiddenSize;
    const at::Device device = lm.device();
    engine::Random random(config.seed ^ 0x51C3A000ULL);
    const auto embedIds = [&](const std::vector<std::int64_t>& ids) {
        const at::Tensor idTensor = at::tensor(ids, at::kLong).view({1, std::int64_t(ids.size())}).to(device);
        return lm.embed(idTensor)[0].to(at::kFloat); // [n, d]
    };

    switch (config.init) {
    case InitKind::Random: {
        std::vector<float> values(std::size_t(k * d));
        for (float& value : values)
            value = float(random.normal());
        const at::Tensor noise = at::tensor(values, at::kFloat).view({k, d}).to(device); // [k, d]
        // Each row gets the typical norm of a token as embed() gives it, the space σ lives in (Gemma 3
        // scales the embedding rows by √d there; the raw rows' norm made σ √d times too short).
        const double typicalNorm =
            lm.embeddingMatrix().to(at::kFloat).norm(2, 1).mean().item<double>() * lm.embedScale();
        return (noise / noise.norm(2, 1, true).clamp_min(1e-12) * typicalNorm).contiguous();
    }
    case InitKind::Vocabulary: {
        const std::int64_t vocab = lm.config().vocabSize;
        std::vector<std::int64_t> ids;
        for (int attempt = 0; std::int64_t(ids.size()) < k; ++attempt) {
            const auto id = std::int64_t(random.below(std::uint64_t(vocab)));
            if (attempt < 1000 * k && model.isSpecial && model.isSpecial(std::int32_t(id)))
                continue;
            ids.push_back(id);
        }
        return embedIds(ids).contiguous();
    }
    case InitKind::Text: {
        const std::vector<std::int32_t> textIds =
            config.initText.empty() ? contextIds : model.encode(config.initText);
        if (textIds.empty())
            throw Error("the initialisation text is empty after tokenisation; write some text or choose "
                        "another init");
        std::vector<std::int64_t> ids;
        for (std::int64_t i = 0; i < k; ++i)
            ids.push_back(textIds[std::size_t(i) % textIds.size()]);
        return embedIds(ids).contiguous();
    }
    case InitKind::ChunkMeans: {
        const std::vector<std::int64_t> ids(contextIds.begin(), contextIds.end());
        const at::Tensor embeddings = embedIds(ids); // [n, d]
        const auto n = std::int64_t(ids.size());
        std::vector<at::Tensor> rows;
        for (std::int64_t i = 0; i < k; ++i) {
            const std::int64_t begin = i * n / k;
            const std::int64_t end = std::max(begin + 1, (i + 1) * n / k);
            rows.push_back(embeddings.narrow(0, begin, end - begin).mean(0));
        }
        return at::stack(rows).contiguous(); // [k, d]
    }
    }
    throw Error("unknown initialisation");
}

// ---- the public facade --------------------------------------------------------------------------

CompressionTask::CompressionTask(ModelHandle model, std::string context, std::vector<Query> queries,
                                 PromptFormat format, const std::string& templateName)
{
    if (!model.isLoaded())
        throw Error("no model is loaded; load a model before creating a compression task");
    engine::EngineModel engineModel = engine::engineModelFromHandle(model);
    impl_ = std::make_unique<Impl>(std::move(model), std::move(engineModel), std::move(context),
                                   std::move(queries), format, templateName);
}
CompressionTask::CompressionTask(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CompressionTask::~CompressionTask() = default;

const ModelHandle& CompressionTask::model() const
{
    return impl_->handle;
}
const std::string& CompressionTask::context() const
{
    return impl_->context;
}
const std::vector<Query>& CompressionTask::queries() const
{
    return impl_->queries;
}
int CompressionTask::contextTokenCount() const
{
    return int(impl_->contextIds.size());
}
const PromptPieces& CompressionTask::promptPieces() const
{
    return impl_->promptPieces;
}
std::vector<std::int32_t> CompressionTask::promptIds(Condition condition, std::size_t query, int k) const
{
    if (query >= impl_->queryIds.size())
        throw Error("there is no query " + std::to_string(query + 1));
    return impl_->conditionPromptIds(condition, k, query);
}
std::string CompressionTask::promptText(Condition condition, std::size_t query, int k) const
{
    const std::vector<std::int32_t> ids = promptIds(condition, query, k);
    std::string text;
    std::vector<std::int32_t> run;
    const auto flush = [&] {
        if (!run.empty())
            text += impl_->model.decodeAll ? impl_->model.decodeAll(run) : impl_->model.decode(run);
        run.clear();
    };
    for (std::size_t i = 0; i < ids.size(); ++i) {
        if (ids[i] >= 0) {
            run.push_back(ids[i]);
        } else if (i == 0 || ids[i - 1] >= 0) {
            flush();
            text += "[σ × " + std::to_string(k) + "]";
        }
    }
    flush();
    return text;
}
void CompressionTask::validate(const TrainConfig& config) const
{
    impl_->validate(config);
}
std::vector<bool> CompressionTask::heldoutMask(const TrainConfig& config) const
{
    return impl_->heldoutMask(config);
}

TrainResult CompressionTask::train(const TrainConfig& config, const TrainCallbacks& callbacks,
                                   TrainControl& control)
{
    return impl_->train(config, callbacks, control, nullptr);
}

TrainResult CompressionTask::train(const TrainConfig& config, const TrainCallbacks& callbacks,
                                   TrainControl& control, const SoftPrompt& start)
{
    return impl_->train(config, callbacks, control, &start);
}

Evaluation CompressionTask::evaluate(const SoftPrompt& sigma, const TrainConfig& config,
                                     const std::vector<Condition>& conditions)
{
    return impl_->evaluate(&sigma, config, conditions);
}

Evaluation CompressionTask::evaluateBaselines(const TrainConfig& config)
{
    std::vector<Condition> baselines;
    for (Condition condition : allConditions())
        if (condition != Condition::SoftPrompt)
            baselines.push_back(condition);
    return impl_->evaluate(nullptr, config, baselines);
}

std::vector<std::string> CompressionTask::teacherContinuations(int maxNewTokens)
{
    if (impl_->contextIds.empty())
        throw Error("the context is empty: write or load the long prompt first");
    if (maxNewTokens < 1)
        throw Error("the continuation length must be at least 1");
    const auto state = impl_->contextState();
    std::vector<std::string> texts;
    for (std::size_t start = 0; start < impl_->queryIds.size(); start += 16) {
        const std::size_t end = std::min(impl_->queryIds.size(), start + 16);
        const std::vector<std::vector<std::int32_t>> rows(impl_->queryIds.begin() + std::ptrdiff_t(start),
                                                          impl_->queryIds.begin() + std::ptrdiff_t(end));
        for (const auto& row : rows)
            if (row.empty())
                throw Error("a query is empty after tokenisation; remove it or write a query");
        const engine::GreedyResult greedy = engine::greedyAfterPrefix(*impl_->model.lm, state->prefix, rows,
                                                                      maxNewTokens, impl_->model.stopIds);
        for (const auto& tokens : greedy.tokens)
            texts.push_back(impl_->model.decode(tokens));
    }
    return texts;
}

namespace engine {

std::unique_ptr<CompressionTask::Impl> makeTaskImpl(EngineModel model, std::string context,
                                                    std::vector<Query> queries, PromptFormat format)
{
    return std::make_unique<CompressionTask::Impl>(ModelHandle(), std::move(model), std::move(context),
                                                   std::move(queries), format);
}

SoftPrompt softPromptFromTensor(const at::Tensor& sigma)
{
    const at::Tensor host = sigma.detach().to(at::kCPU, at::kFloat).contiguous(); // [k, d]
    SoftPrompt prompt;
    prompt.k = int(host.size(0));
    prompt.dim = int(host.size(1));
    prompt.values.assign(host.data_ptr<float>(), host.data_ptr<float>() + host.numel());
    return prompt;
}

at::Tensor tensorFromSoftPrompt(const SoftPrompt& sigma, at::Device device)
{
    if (sigma.k < 1 || sigma.dim < 1 || sigma.values.size() != std::size_t(sigma.k) * std::size_t(sigma.dim))
        throw Error("the soft prompt holds " + std::to_string(sigma.values.size()) +
                    " values, not k × d = " + std::to_string(sigma.k) + " × " + std::to_string(sigma.dim));
    return at::tensor(sigma.values, at::kFloat).view({sigma.k, sigma.dim}).to(device); // [k, d]
}

} // namespace engine
} // namespace sp
