// `softprompt eval-demo`: does the demo model follow the rules in its context?
#include "softprompt/demo_training.h"

#include "demo/demo_eval.h"

#include "demo/demo_batches.h"
#include "demo/demo_vocabulary.h"
#include "model/generation.h"
#include "model/loaded_model.h"
#include "softprompt/demo_corpus.h"
#include "softprompt/demo_tokenizer.h"
#include "softprompt/error.h"

#include <algorithm>
#include <chrono>
#include <map>

namespace sp::demo {

namespace {

// Room for the longest answer (8 tokens) and its end-of-text.
constexpr int kMaxReplyTokens = 10;

struct Reply {
    std::string text;
    bool finished = false; // ended with end-of-text
};

Reply decodeReply(const Tokenizer& tokenizer, const std::vector<std::int64_t>& generated,
                  std::int64_t endOfText)
{
    Reply reply;
    std::vector<std::int32_t> ids;
    for (std::int64_t id : generated) {
        if (id == endOfText) {
            reply.finished = true;
            break;
        }
        ids.push_back(std::int32_t(id));
    }
    reply.text = tokenizer.decode(ids);
    return reply;
}

// Greedy reply to `query` after a context whose cache is given (batch 1).
std::vector<std::int64_t> replyAfterContext(const model::CausalLM& lm, const model::KVCache& contextCache,
                                            const std::vector<std::int64_t>& queryIds, std::int64_t endOfText)
{
    c10::InferenceMode inference;
    std::vector<std::int64_t> generated;
    at::Tensor ids = at::tensor(queryIds, at::kLong).view({1, std::int64_t(queryIds.size())}); // [1, T]
    model::ForwardOutput output = lm.forwardIds(ids, &contextCache, /*returnCache=*/true);
    for (int step = 0; step < kMaxReplyTokens; ++step) {
        const std::int64_t next = output.logits[0][-1].argmax().item<std::int64_t>();
        generated.push_back(next);
        if (next == endOfText || step + 1 == kMaxReplyTokens)
            break;
        const model::KVCache cache = std::move(output.cache);
        output = lm.forwardIds(at::full({1, 1}, next, at::kLong), &cache, /*returnCache=*/true);
    }
    return generated;
}

// The part of the reply each answer token belongs to: " <greeting>! <value>. <closing>" + end.
std::vector<std::string> replyParts(const Tokenizer& tokenizer, const DemoRules& rules,
                                    const DemoQuery& query, std::size_t answerTokens)
{
    std::vector<std::string> parts(answerTokens, "end");
    // Each piece is a pre-token of its own, so its tokens are the reply's tokens at that place.
    std::size_t at = 0;
    for (const auto& [part, piece] : rules.replyPieces(rules.value(query.attribute))) {
        const std::size_t tokens = encodeIds(tokenizer, piece).size();
        for (std::size_t i = 0; i < tokens && at + 1 < answerTokens; ++i)
            parts[at++] = part;
    }
    return parts;
}

// Teacher-forced argmax hits per answer token (answer ids end with end-of-text).
std::vector<bool> teacherForcedHits(const model::CausalLM& lm, const model::KVCache& contextCache,
                                    const std::vector<std::int64_t>& queryIds,
                                    const std::vector<std::int64_t>& answerIds)
{
    c10::InferenceMode inference;
    std::vector<std::int64_t> ids = queryIds;
    ids.insert(ids.end(), answerIds.begin(), answerIds.end() - 1);
    const at::Tensor input = at::tensor(ids, at::kLong).view({1, std::int64_t(ids.size())}); // [1, T]
    const at::Tensor predicted = lm.forwardIds(input, &contextCache).logits[0].argmax(-1);   // [T]
    std::vector<bool> hits;
    for (std::size_t a = 0; a < answerIds.size(); ++a)
        hits.push_back(predicted[std::int64_t(queryIds.size() - 1 + a)].item<std::int64_t>() == answerIds[a]);
    return hits;
}

// The sentence of the context that states the fact, and where it starts.
std::pair<std::string, double> factSentenceOf(const DemoContext& context, const std::string& attribute)
{
    constexpr std::string_view kSlot = "{value}";
    const std::string& value = context.rules.value(attribute);
    for (std::string_view phrasing : vocabulary::factSentences(attribute)) {
        std::string sentence(phrasing);
        const std::size_t slot = sentence.find(kSlot);
        if (slot == std::string::npos)
            continue;
        sentence.replace(slot, kSlot.size(), value);
        if (const std::size_t at = context.text.find(sentence); at != std::string::npos)
            return {sentence, double(at) / double(context.text.size())};
    }
    return {"", 0.0};
}

} // namespace

DemoEvalResult evaluateInMemory(const model::CausalLM& lm, const Tokenizer& tokenizer, int examples,
                                std::uint64_t seed, DemoCorpusOptions corpusOptions, bool withoutContext,
                                int keepExamples, const std::function<void(int done, int total)>& onProgress)
{
    if (examples < 1)
        throw Error("eval-demo: --n must be at least 1 (got " + std::to_string(examples) + ")");
    const auto start = std::chrono::steady_clock::now();
    const std::optional<std::int32_t> endOfTextId = tokenizer.tokenToId(kDemoEndOfText);
    if (!endOfTextId)
        throw Error("eval-demo: the model's tokenizer has no " + std::string(kDemoEndOfText) +
                    " token; eval-demo measures models made by `softprompt pretrain-demo`");
    const std::int64_t endOfText = *endOfTextId;

    corpusOptions.queriesPerContext = 1;
    if (!corpusOptions.countTokens)
        corpusOptions.countTokens = [&tokenizer](std::string_view text) {
            return tokenizer.encode(text).size();
        };
    DemoCorpusGenerator generator(seed, corpusOptions);

    DemoEvalResult result;
    result.seed = seed;
    int withContextCorrect = 0;
    int withoutContextCorrect = 0;
    std::map<std::string, std::pair<int, int>> attributeScores; // attribute -> (correct, examples)
    double contextTokens = 0.0;
    std::map<std::string, int> partHits;
    std::map<std::string, int> partCounts;
    for (int example = 0; example < examples; ++example) {
        const DemoContext context = generator.nextContext();
        const DemoQuery& query = context.queries.front();
        const std::vector<std::int64_t> contextIds = encodeIds(tokenizer, context.text);
        const std::vector<std::int64_t> queryIds = encodeIds(tokenizer, query.query);
        contextTokens += double(contextIds.size());
        lm.checkSequenceLength(std::int64_t(contextIds.size() + queryIds.size()) + kMaxReplyTokens,
                               "context + query + reply");

        model::KVCache contextCache;
        {
            c10::InferenceMode inference;
            const at::Tensor ids =
                at::tensor(contextIds, at::kLong).view({1, std::int64_t(contextIds.size())});
            contextCache = lm.forwardIds(ids, nullptr, /*returnCache=*/true).cache;
        }
        const Reply withContext =
            decodeReply(tokenizer, replyAfterContext(lm, contextCache, queryIds, endOfText), endOfText);
        std::vector<std::int64_t> answerIds = encodeIds(tokenizer, query.answer);
        answerIds.push_back(endOfText);
        const std::vector<std::string> parts = replyParts(tokenizer, context.rules, query, answerIds.size());
        const std::vector<bool> hits = teacherForcedHits(lm, contextCache, queryIds, answerIds);
        for (std::size_t a = 0; a < hits.size(); ++a) {
            partHits[parts[a]] += hits[a];
            ++partCounts[parts[a]];
        }
        Reply alone;
        if (withoutContext)
            alone = decodeReply(tokenizer, model::greedyDecode(lm, queryIds, kMaxReplyTokens, {endOfText}),
                                endOfText);
        const bool correctWith = withContext.finished && withContext.text == query.answer;
        const bool correctWithout = alone.finished && alone.text == query.answer;
        withContextCorrect += correctWith;
        withoutContextCorrect += correctWithout;
        attributeScores[query.attribute].first += correctWith;
        ++attributeScores[query.attribute].second;
        if (int(result.samples.size()) < keepExamples) {
            const auto [sentence, position] = factSentenceOf(context, query.attribute);
            result.samples.push_back({query.attribute, query.query, query.answer, withContext.text,
                                      alone.text, sentence, position});
        }
        if (onProgress)
            onProgress(example + 1, examples);
    }
    result.examples = examples;
    result.withContext = double(withContextCorrect) / examples;
    result.withoutContext = double(withoutContextCorrect) / examples;
    for (const std::string& attribute : demoAttributes())
        if (const auto found = attributeScores.find(attribute); found != attributeScores.end())
            result.byAttribute.push_back(
                {attribute, found->second.second, double(found->second.first) / found->second.second});
    result.meanContextTokens = contextTokens / examples;
    for (const char* part : {"greeting", "value", "closing", "punctuation", "end"})
        if (partCounts[part] > 0)
            result.tokenAccuracyByPart.emplace_back(part, double(partHits[part]) / partCounts[part]);
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
}

DemoEvalResult evaluateDemoModel(const DemoEvalOptions& options,
                                 const std::function<void(int done, int total)>& onProgress)
{
    ModelLoadOptions loadOptions;
    loadOptions.device = options.device;
    const std::shared_ptr<model::LoadedModel> loaded = model::LoadedModel::load(options.model, loadOptions);
    DemoCorpusOptions corpusOptions;
    corpusOptions.minContextTokens = options.minContextTokens;
    corpusOptions.maxContextTokens = options.maxContextTokens;
    corpusOptions.distractorsPerContext = options.distractorsPerContext;
    DemoEvalResult result =
        evaluateInMemory(loaded->model(), loaded->tokenizer(), options.examples, options.seed, corpusOptions,
                         /*withoutContext=*/true, options.keepExamples, onProgress);
    result.model = loaded->summary().path;
    return result;
}

} // namespace sp::demo
