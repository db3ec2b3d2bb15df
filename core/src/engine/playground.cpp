// The playground: streamed generation under the full context, σ or no context (see
// softprompt/playground.h). The condition prefixes are built exactly as the evaluator builds them
// (engine/playground.h), so one greedy σ turn reproduces the engine's σ evaluation.
#include "engine/playground.h"

#include "engine/statistics.h"
#include "softprompt/error.h"
#include "softprompt/hash.h"
#include "softprompt/text.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace sp {

namespace {

std::string idsDigest(const std::vector<std::int32_t>& ids)
{
    return sha256Hex(
        std::string_view(reinterpret_cast<const char*>(ids.data()), ids.size() * sizeof(std::int32_t)));
}

// The top `count` of `probabilities` (host, one per id), most probable first.
std::vector<TokenProbability> topTokens(const engine::EngineModel& model, const std::vector<double>& probabilities,
                                        int count)
{
    std::vector<std::int32_t> order(probabilities.size());
    std::iota(order.begin(), order.end(), 0);
    const auto shown = std::min<std::size_t>(std::size_t(std::max(count, 0)), order.size());
    std::partial_sort(order.begin(), order.begin() + std::ptrdiff_t(shown), order.end(),
                      [&](std::int32_t a, std::int32_t b) { return probabilities[std::size_t(a)] > probabilities[std::size_t(b)]; });
    std::vector<TokenProbability> top;
    for (std::size_t i = 0; i < shown; ++i) {
        TokenProbability token;
        token.id = order[i];
        token.text = model.piece(order[i]);
        token.probability = probabilities[std::size_t(order[i])];
        top.push_back(std::move(token));
    }
    return top;
}

std::vector<double> hostValues(const at::Tensor& values) // [V] → host doubles
{
    const at::Tensor host = values.to(at::kCPU, at::kDouble).contiguous();
    return std::vector<double>(host.data_ptr<double>(), host.data_ptr<double>() + host.numel());
}

// Nucleus sampling at `temperature` from raw logits [V]: the smallest set of most probable tokens
// whose mass reaches topP, renormalised, drawn with the portable generator.
std::int32_t sampleToken(const at::Tensor& logits, const SamplingSettings& settings, engine::Random& random)
{
    const std::vector<double> probabilities =
        hostValues(at::softmax(logits.to(at::kDouble) / settings.temperature, -1)); // [V]
    std::vector<std::int32_t> order(probabilities.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](std::int32_t a, std::int32_t b) {
        return probabilities[std::size_t(a)] > probabilities[std::size_t(b)];
    });
    double kept = 0.0;
    std::size_t count = 0;
    while (count < order.size() && (count == 0 || kept < settings.topP)) {
        kept += probabilities[std::size_t(order[count])];
        ++count;
    }
    double draw = random.uniform() * kept;
    for (std::size_t i = 0; i < count; ++i) {
        draw -= probabilities[std::size_t(order[i])];
        if (draw < 0.0)
            return order[i];
    }
    return order[count - 1]; // rounding left a sliver of mass: the last kept token
}

void checkSettings(const SamplingSettings& settings)
{
    if (settings.maxNewTokens < 1 || settings.maxNewTokens > 4096)
        throw Error("the number of new tokens must be between 1 and 4096 (got " +
                    std::to_string(settings.maxNewTokens) + ")");
    if (settings.sample && !(std::isfinite(settings.temperature) && settings.temperature > 0.0))
        throw Error("the sampling temperature must be a positive number (got " +
                    std::to_string(settings.temperature) + "); use greedy decoding for temperature 0");
    if (settings.sample && !(settings.topP > 0.0 && settings.topP <= 1.0))
        throw Error("top-p must be in (0, 1] (got " + std::to_string(settings.topP) + ")");
    if (settings.topK < 0 || settings.topK > 100)
        throw Error("the number of reported top-k tokens must be between 0 and 100 (got " +
                    std::to_string(settings.topK) + ")");
}

bool isStop(const engine::EngineModel& model, std::int32_t id)
{
    return std::find(model.stopIds.begin(), model.stopIds.end(), id) != model.stopIds.end();
}

// An earlier answer as the conversation carries it: the end-of-text tokens that closed it dropped.
std::vector<std::int32_t> replyWithoutStops(const engine::EngineModel& model, std::vector<std::int32_t> reply)
{
    while (!reply.empty() && isStop(model, reply.back()))
        reply.pop_back();
    return reply;
}

} // namespace

Playground::Impl::Impl(ModelHandle handle_, engine::EngineModel model_, std::string context_, PromptFormat format)
    : handle(std::move(handle_)), model(std::move(model_)), context(std::move(context_))
{
    if (!model.lm)
        throw Error("no model is loaded; load a model before asking it questions");
    model::configureCpuThreads();
    if (resolvePromptFormat(format, model.chatFiles) == PromptFormat::Chat) {
        chat.emplace(model.chatFiles);
        pieces = chat->pieces();
    } else {
        contextIds = model.encode(context);
        contextKey = sha256Hex(model.identity + "\x1fprefix\x1f" + idsDigest(model.prefixIds) + "\x1f" +
                               idsDigest(contextIds));
        pieces.pre = model.decodeAll ? model.decodeAll(model.prefixIds) : std::string();
        pieces.noContextPre = pieces.pre;
    }
}

Playground::Impl::Layout Playground::Impl::layoutFor(Condition condition, const std::vector<ConversationTurn>& history,
                                                     const std::string& question) const
{
    if (condition != Condition::FullContext && condition != Condition::SoftPrompt && condition != Condition::NoContext)
        throw Error("the playground answers with the full context, σ or no context, not with " +
                    conditionLabel(condition));
    if (condition == Condition::FullContext && trimWhitespace(context).empty())
        throw Error("the context is empty: write or load the long prompt to ask with the full context");
    return chat ? chatLayout(condition, history, question) : plainLayout(condition, history, question);
}

Playground::Impl::Layout Playground::Impl::plainLayout(Condition condition, const std::vector<ConversationTurn>& history,
                                                       const std::string& question) const
{
    Layout layout;
    layout.pre = model.prefixIds;
    if (condition == Condition::FullContext)
        layout.context = contextIds;
    const std::vector<std::int32_t> separator = model.encode("\n");
    for (const ConversationTurn& turn : history) {
        const std::vector<std::int32_t> asked = model.encode(turn.question);
        layout.rest.insert(layout.rest.end(), asked.begin(), asked.end());
        // Inside a plain conversation a newline separates turns.
        const std::vector<std::int32_t> reply = replyWithoutStops(model, turn.reply);
        layout.rest.insert(layout.rest.end(), reply.begin(), reply.end());
        layout.rest.insert(layout.rest.end(), separator.begin(), separator.end());
    }
    const std::vector<std::int32_t> asked = model.encode(question);
    layout.rest.insert(layout.rest.end(), asked.begin(), asked.end());
    return layout;
}

// transformers' route for the whole conversation (render, then tokenise as one string), cut where
// the engine cuts one turn: the tokens of pre ⊕ c come from tokenizeChat on the first question, so
// a one-turn conversation is exactly the engine's teacher (and, with σ for c, its student).
Playground::Impl::Layout Playground::Impl::chatLayout(Condition condition, const std::vector<ConversationTurn>& history,
                                                      const std::string& question) const
{
    std::vector<std::pair<std::string, std::string>> turns;
    for (const ConversationTurn& turn : history) {
        turns.emplace_back("user", turn.question);
        turns.emplace_back("assistant", model.decode(replyWithoutStops(model, turn.reply)));
    }
    turns.emplace_back("user", question);

    Layout layout;
    if (condition == Condition::NoContext) {
        layout.rest = model.encode(chat->renderConversation(nullptr, turns));
        return layout;
    }
    const std::string& firstQuestion = history.empty() ? question : history.front().question;
    engine::TokenizedPrompt first = engine::tokenizeChat(*chat, model.encode, context, {firstQuestion});
    const std::vector<std::int32_t> whole = model.encode(chat->renderConversation(&context, turns));
    const std::size_t head = first.pre.size() + first.context.size();
    if (whole.size() < head || !std::equal(first.pre.begin(), first.pre.end(), whole.begin()) ||
        !std::equal(first.context.begin(), first.context.end(), whole.begin() + std::ptrdiff_t(first.pre.size())))
        throw Error("the chat template renders this conversation's start differently from its first turn, so "
                    "σ cannot stand in for the context; start a new conversation");
    layout.pre = std::move(first.pre);
    if (condition == Condition::FullContext)
        layout.context = std::move(first.context);
    layout.rest.assign(whole.begin() + std::ptrdiff_t(head), whole.end());
    return layout;
}

engine::PrefixState Playground::Impl::prefixFor(Condition condition, const Layout& layout) const
{
    switch (condition) {
    case Condition::FullContext: {
        if (layout.context.empty())
            throw Error("the context is empty: write or load the long prompt to ask with the full context");
        const std::string key = chat ? sha256Hex(model.identity + "\x1f" "chat-prefix\x1f" + idsDigest(layout.pre) +
                                                 "\x1f" + idsDigest(layout.context))
                                     : contextKey;
        return engine::contextState(model, layout.pre, layout.context, {}, key)->prefix;
    }
    case Condition::SoftPrompt: {
        std::lock_guard<std::mutex> lock(mutex);
        if (!sigma.defined())
            throw Error("no σ is chosen: pick a trained run (or a σ file) to ask σ");
        if (!sigmaPrefix || sigmaPrefixPre != layout.pre) {
            sigmaPrefix = engine::conditionPrefixFromEmbeddings(model, layout.pre, sigma);
            sigmaPrefixPre = layout.pre;
        }
        return *sigmaPrefix;
    }
    case Condition::NoContext: {
        std::lock_guard<std::mutex> lock(mutex);
        if (!emptyPrefix)
            emptyPrefix = engine::conditionPrefixFromEmbeddings(model, layout.pre, at::Tensor());
        return *emptyPrefix;
    }
    default:
        throw Error("the playground answers with the full context, σ or no context, not with " +
                    conditionLabel(condition));
    }
}

Playground::Playground(ModelHandle model, std::string context, PromptFormat format)
{
    if (!model.isLoaded())
        throw Error("no model is loaded; load a model before asking it questions");
    engine::EngineModel engineModel = engine::engineModelFromHandle(model);
    impl_ = std::make_unique<Impl>(std::move(model), std::move(engineModel), std::move(context), format);
}

Playground::Playground(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Playground::~Playground() = default;
Playground::Playground(Playground&&) noexcept = default;
Playground& Playground::operator=(Playground&&) noexcept = default;

void Playground::setSigma(const SoftPrompt& sigma)
{
    const model::CausalLM& lm = *impl_->model.lm;
    at::Tensor values = engine::tensorFromSoftPrompt(sigma, lm.device()); // [k, d] fp32
    if (values.size(1) != lm.config().hiddenSize)
        throw Error("σ has width " + std::to_string(values.size(1)) + " but the model's hidden size is " +
                    std::to_string(lm.config().hiddenSize) + "; it was trained for another model");
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->sigma = values;
    impl_->sigmaPrefix.reset();
}

bool Playground::hasSigma() const
{
    std::lock_guard<std::mutex> lock(impl_->mutex);
    return impl_->sigma.defined();
}

int Playground::contextTokenCount() const
{
    if (impl_->chat)
        return int(engine::tokenizeChat(*impl_->chat, impl_->model.encode, impl_->context, {}).context.size());
    return int(impl_->contextIds.size());
}

const PromptPieces& Playground::promptPieces() const
{
    return impl_->pieces;
}

std::vector<std::int32_t> Playground::conversationIds(const std::vector<ConversationTurn>& history,
                                                      const std::string& question, Condition condition) const
{
    return impl_->layoutFor(condition, history, question).rest;
}

Generation Playground::generate(Condition condition, const std::vector<ConversationTurn>& history,
                                const std::string& question, const SamplingSettings& settings,
                                const TokenCallback& onToken, const std::atomic<bool>* cancel) const
{
    checkSettings(settings);
    if (trimWhitespace(question).empty())
        throw Error("the question is empty: type a question to ask");
    const engine::EngineModel& model = impl_->model;
    const model::CausalLM& lm = *model.lm;
    const Impl::Layout layout = impl_->layoutFor(condition, history, question);
    const std::vector<std::int32_t>& ids = layout.rest;
    if (ids.empty())
        throw Error("the question is empty after tokenisation; type a question to ask");

    at::NoGradGuard noGrad;
    const engine::PrefixState prefix = impl_->prefixFor(condition, layout);
    Generation generation;
    generation.condition = condition;
    const std::int64_t promptLength = prefix.length + std::int64_t(ids.size());
    generation.promptTokens = int(promptLength);
    lm.checkSequenceLength(promptLength + 1, "the conversation (" + std::to_string(promptLength) +
                                                 " tokens with the " + conditionLabel(condition) +
                                                 "); start a new conversation or ask a shorter question");
    std::int64_t window = lm.maxPositions();
    if (lm.config().slidingWindow)
        window = std::min(window, *lm.config().slidingWindow);
    const std::int64_t steps = std::min<std::int64_t>(settings.maxNewTokens, window - promptLength);

    const at::Device device = lm.device();
    const engine::RowBatch batch = engine::makeRowBatch({ids}, prefix.length, device);
    model::ForwardOutput output = engine::forwardRows(lm, prefix, batch, /*returnCache=*/true);
    at::Tensor logits = output.logits[0][std::int64_t(ids.size()) - 1]; // [V]
    model::KVCache cache = std::move(output.cache);
    at::Tensor mask = batch.mask; // [1, P + T + t]
    engine::Random random(settings.seed);
    std::vector<std::int32_t> generated;
    for (std::int64_t step = 0; step < steps; ++step) {
        if (cancel && cancel->load()) {
            generation.cancelled = true;
            break;
        }
        const std::vector<double> probabilities = hostValues(at::softmax(logits.to(at::kDouble), -1)); // [V]
        const std::int32_t next = settings.sample ? sampleToken(logits, settings, random)
                                                  : std::int32_t(logits.argmax(-1).item<std::int64_t>());
        GeneratedToken token;
        token.id = next;
        token.text = model.piece(next);
        token.special = model.isSpecial && model.isSpecial(next);
        token.probability = probabilities[std::size_t(next)];
        token.topK = topTokens(model, probabilities, settings.topK);
        generated.push_back(next);
        generation.tokens.push_back(token);
        if (onToken)
            onToken(generation.tokens.back());
        if (isStop(model, next)) {
            generation.endOfText = true;
            break;
        }
        if (step + 1 == steps)
            break;
        mask = at::cat({mask, at::ones({1, 1}, mask.options())}, 1);
        model::ForwardInput input;
        input.inputsEmbeds = lm.embed(at::full({1, 1}, std::int64_t(next), // [1, 1, d]
                                               at::TensorOptions().dtype(at::kLong).device(device)));
        input.positions = at::full({1, 1}, promptLength + step, at::TensorOptions().dtype(at::kLong).device(device));
        input.positionRange = std::make_pair(promptLength + step, promptLength + step);
        input.attentionMask = mask;
        input.past = &cache;
        input.returnCache = true;
        model::ForwardOutput stepOutput = lm.forward(input);
        cache = std::move(stepOutput.cache);
        logits = stepOutput.logits[0][0]; // [V]
    }
    generation.text = model.decode(generated);
    return generation;
}

std::vector<GeneratedToken> Playground::score(Condition condition, const std::vector<ConversationTurn>& history,
                                              const std::string& question, const std::vector<std::int32_t>& reply,
                                              int topK) const
{
    if (reply.empty())
        return {};
    const engine::EngineModel& model = impl_->model;
    const model::CausalLM& lm = *model.lm;
    const Impl::Layout layout = impl_->layoutFor(condition, history, question);
    std::vector<std::int32_t> ids = layout.rest;
    if (ids.empty())
        throw Error("the question is empty after tokenisation; type a question to ask");
    const auto asked = std::int64_t(ids.size());
    ids.insert(ids.end(), reply.begin(), reply.end());
    at::NoGradGuard noGrad;
    const engine::PrefixState prefix = impl_->prefixFor(condition, layout);
    lm.checkSequenceLength(prefix.length + std::int64_t(ids.size()),
                           "the conversation with its answer under the " + conditionLabel(condition));
    const engine::RowBatch batch = engine::makeRowBatch({ids}, prefix.length, lm.device());
    // The distributions that predict each reply token: positions |q| − 1 … |q| + |reply| − 2.
    const at::Tensor logits =
        engine::forwardRows(lm, prefix, batch, false).logits[0].narrow(0, asked - 1, std::int64_t(reply.size())); // [R, V]
    const at::Tensor probabilities = at::softmax(logits.to(at::kDouble), -1).to(at::kCPU).contiguous();          // [R, V]
    std::vector<GeneratedToken> tokens;
    for (std::size_t i = 0; i < reply.size(); ++i) {
        const std::vector<double> row = hostValues(probabilities[std::int64_t(i)]);
        GeneratedToken token;
        token.id = reply[i];
        token.text = model.piece(reply[i]);
        token.special = model.isSpecial && model.isSpecial(reply[i]);
        token.probability = reply[i] >= 0 && std::size_t(reply[i]) < row.size() ? row[std::size_t(reply[i])] : 0.0;
        token.topK = topTokens(model, row, topK);
        tokens.push_back(std::move(token));
    }
    return tokens;
}

const std::vector<Condition>& playgroundConditions()
{
    static const std::vector<Condition> conditions{Condition::FullContext, Condition::SoftPrompt,
                                                   Condition::NoContext};
    return conditions;
}

namespace engine {

PrefixState conditionPrefixFromEmbeddings(const EngineModel& model, const std::vector<std::int32_t>& pre,
                                          const at::Tensor& sigma)
{
    at::NoGradGuard noGrad;
    const model::CausalLM& lm = *model.lm;
    const std::int64_t d = lm.config().hiddenSize;
    at::Tensor fixed = at::zeros({0, d}, at::TensorOptions().dtype(at::kFloat).device(lm.device())); // [P0, d]
    if (!pre.empty()) {
        const std::vector<std::int64_t> ids(pre.begin(), pre.end());
        const at::Tensor idTensor =
            at::tensor(ids, at::kLong).view({1, std::int64_t(ids.size())}).to(lm.device());
        fixed = lm.embed(idTensor)[0].to(at::kFloat);
    }
    const at::Tensor embeds = sigma.defined() ? at::cat({fixed, sigma.to(at::kFloat)}, 0) : fixed; // [P0 + k, d]
    return prefixFromEmbeddings(lm, embeds.unsqueeze(0));
}

std::unique_ptr<Playground::Impl> makePlaygroundImpl(EngineModel model, std::string context, PromptFormat format)
{
    return std::make_unique<Playground::Impl>(ModelHandle(), std::move(model), std::move(context), format);
}

} // namespace engine

} // namespace sp
