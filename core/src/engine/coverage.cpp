// The map of what σ forgets: exact leave-one-out influence of each context unit on the teacher,
// with the context's KV cache, and σ's distance from the teacher on the queries each unit matters
// for (see softprompt/coverage.h).
#include "engine/coverage.h"

#include "engine/playground.h"
#include "softprompt/error.h"
#include "softprompt/text.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

namespace sp {

namespace {

constexpr std::int64_t kCoverageChunk = 16; // query rows per forward

bool isSpace(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// Adds [begin, end) trimmed of whitespace, when anything is left.
void addTrimmed(const std::string& text, std::size_t begin, std::size_t end, std::vector<TextSpan>& units)
{
    while (begin < end && isSpace(text[begin]))
        ++begin;
    while (end > begin && isSpace(text[end - 1]))
        --end;
    if (begin < end)
        units.push_back({begin, end});
}

} // namespace

std::string coverageUnitKey(CoverageUnitKind kind)
{
    return kind == CoverageUnitKind::Paragraph ? "paragraph" : "sentence";
}

CoverageUnitKind coverageUnitFromKey(const std::string& key)
{
    if (key == "sentence")
        return CoverageUnitKind::Sentence;
    if (key == "paragraph")
        return CoverageUnitKind::Paragraph;
    throw Error("unknown coverage unit '" + key + "'; use sentence or paragraph");
}

std::vector<TextSpan> splitContextUnits(const std::string& context, CoverageUnitKind kind)
{
    std::vector<TextSpan> units;
    std::size_t start = 0;
    const std::size_t size = context.size();
    for (std::size_t i = 0; i < size; ++i) {
        const char c = context[i];
        if (kind == CoverageUnitKind::Paragraph) {
            // A blank line (only whitespace between two line breaks) ends a paragraph.
            if (c != '\n')
                continue;
            std::size_t j = i + 1;
            while (j < size && isSpace(context[j]) && context[j] != '\n')
                ++j;
            if (j < size && context[j] == '\n') {
                addTrimmed(context, start, i, units);
                start = j;
                i = j;
            }
            continue;
        }
        if (c == '\n') {
            addTrimmed(context, start, i, units);
            start = i + 1;
        } else if (c == '.' || c == '!' || c == '?') {
            std::size_t end = i + 1;
            while (end < size && (context[end] == '"' || context[end] == '\'' || context[end] == ')'))
                ++end;
            if (end == size || isSpace(context[end])) {
                addTrimmed(context, start, end, units);
                start = end;
                i = end - 1;
            }
        }
    }
    addTrimmed(context, start, size, units);
    return units;
}

// ---- the map's JSON --------------------------------------------------------------------------------

nlohmann::json CoverageMap::toJson() const
{
    nlohmann::json unitsJson = nlohmann::json::array();
    for (const CoverageUnit& unit : units) {
        unitsJson.push_back({{"begin", unit.span.begin},
                             {"end", unit.span.end},
                             {"text", unit.text},
                             {"first_token", unit.firstToken},
                             {"token_count", unit.tokenCount},
                             {"max_influence", unit.maxInfluence},
                             {"mean_influence", unit.meanInfluence},
                             {"matters_for", unit.mattersFor},
                             {"kept_for", unit.keptFor},
                             {"influence", unit.influence},
                             {"answer_changes", unit.answerChanges},
                             {"summary", describe(unit)}});
    }
    return {{"unit", coverageUnitKey(options.unit)},
            {"influence_threshold", options.influenceThreshold},
            {"keep_fraction", options.keepFraction},
            {"context_tokens", contextTokens},
            {"has_sigma", hasSigma},
            {"seconds", seconds},
            {"queries", queries},
            {"sigma_kl", sigmaKl},
            {"sigma_top1", sigmaTop1},
            {"units", unitsJson}};
}

CoverageMap CoverageMap::fromJson(const nlohmann::json& json)
{
    try {
        CoverageMap map;
        map.options.unit = coverageUnitFromKey(json.at("unit").get<std::string>());
        map.options.influenceThreshold = json.at("influence_threshold").get<double>();
        map.options.keepFraction = json.at("keep_fraction").get<double>();
        map.contextTokens = json.value("context_tokens", 0);
        map.hasSigma = json.at("has_sigma").get<bool>();
        map.seconds = json.value("seconds", 0.0);
        map.queries = json.at("queries").get<std::vector<std::string>>();
        map.sigmaKl = json.at("sigma_kl").get<std::vector<double>>();
        map.sigmaTop1 = json.at("sigma_top1").get<std::vector<bool>>();
        for (const nlohmann::json& entry : json.at("units")) {
            CoverageUnit unit;
            unit.span = {entry.at("begin").get<std::size_t>(), entry.at("end").get<std::size_t>()};
            unit.text = entry.at("text").get<std::string>();
            unit.firstToken = entry.at("first_token").get<int>();
            unit.tokenCount = entry.at("token_count").get<int>();
            unit.maxInfluence = entry.at("max_influence").get<double>();
            unit.meanInfluence = entry.at("mean_influence").get<double>();
            unit.mattersFor = entry.at("matters_for").get<std::vector<int>>();
            unit.keptFor = entry.at("kept_for").get<std::vector<int>>();
            unit.influence = entry.at("influence").get<std::vector<double>>();
            unit.answerChanges = entry.at("answer_changes").get<std::vector<bool>>();
            map.units.push_back(std::move(unit));
        }
        return map;
    } catch (const nlohmann::json::exception& error) {
        throw Error(std::string("the coverage map is malformed (") + error.what() + "); compute it again",
                    Remedy::RecomputeCoverage);
    }
}

std::string CoverageMap::describe(const CoverageUnit& unit) const
{
    const std::size_t matters = unit.mattersFor.size();
    if (matters == 0)
        return "matters to no query";
    std::string text = "matters to " + std::to_string(matters) + (matters == 1 ? " query" : " queries");
    if (hasSigma)
        text += "; σ keeps it for " + std::to_string(unit.keptFor.size());
    return text;
}

namespace engine {

PrefixState leaveOutPrefix(const model::CausalLM& lm, const PrefixState& full, std::int64_t fixedCount,
                           const std::vector<std::int32_t>& contextIds, std::int64_t first, std::int64_t count)
{
    at::NoGradGuard noGrad;
    const std::int64_t kept = fixedCount + first; // cached positions that stay as they are
    const auto total = std::int64_t(contextIds.size());
    PrefixState prefix;
    prefix.length = kept;
    // The context's cache may hold its positions as a shared read-only prefix, its own rows, or both.
    const auto wholeLayer = [](const std::vector<at::Tensor>& shared, const std::vector<at::Tensor>& own,
                               std::size_t layer) {
        if (shared.empty())
            return own[layer];
        return own.empty() ? shared[layer] : at::cat({shared[layer], own[layer]}, 2); // [1, Hkv, P, Dh]
    };
    for (std::size_t layer = 0; layer < full.cache.layerCount(); ++layer) {
        prefix.cache.keys.push_back(wholeLayer(full.cache.sharedKeys, full.cache.keys, layer).narrow(2, 0, kept));
        prefix.cache.values.push_back(
            wholeLayer(full.cache.sharedValues, full.cache.values, layer).narrow(2, 0, kept)); // [1, Hkv, kept, Dh]
    }
    const std::int64_t rest = total - first - count;
    if (rest <= 0)
        return prefix;
    const at::Device device = lm.device();
    const at::TensorOptions longOptions = at::TensorOptions().dtype(at::kLong).device(device);
    const std::vector<std::int64_t> after(contextIds.begin() + std::ptrdiff_t(first + count), contextIds.end());
    model::ForwardInput input;
    input.inputsEmbeds = lm.embed(at::tensor(after, at::kLong).view({1, rest}).to(device)); // [1, rest, d]
    input.positions = at::arange(kept, kept + rest, longOptions).unsqueeze(0);             // [1, rest]
    input.positionRange = std::make_pair(kept, kept + rest - 1);
    input.attentionMask = at::ones({1, kept + rest}, longOptions.dtype(at::kBool)); // [1, kept + rest]
    input.past = kept > 0 ? &prefix.cache : nullptr;
    input.returnCache = true;
    input.logitIndices = at::zeros({1, 1}, longOptions); // only the cache is needed
    PrefixState result;
    result.cache = lm.forward(input).cache;
    result.length = kept + rest;
    return result;
}

std::vector<std::pair<int, int>> unitTokenRanges(const std::string& context, const std::vector<TextSpan>& units,
                                                 const std::vector<std::string>& pieces)
{
    std::string decoded;
    for (const std::string& piece : pieces)
        decoded += piece;
    const bool exact = decoded == context;
    const double scale = decoded.empty() ? 0.0 : double(context.size()) / double(decoded.size());
    // Each token's anchor: where its first non-whitespace character is in the context.
    std::vector<double> anchors;
    std::vector<bool> blank;
    std::size_t offset = 0;
    for (const std::string& piece : pieces) {
        std::size_t lead = 0;
        while (lead < piece.size() && isSpace(piece[lead]))
            ++lead;
        blank.push_back(lead == piece.size());
        const double at = double(offset + lead);
        anchors.push_back(exact ? at : at * scale);
        offset += piece.size();
    }
    std::vector<std::pair<int, int>> ranges;
    for (const TextSpan& unit : units) {
        int first = -1, last = -1;
        for (std::size_t t = 0; t < anchors.size(); ++t) {
            if (blank[t] || anchors[t] < double(unit.begin) || anchors[t] >= double(unit.end))
                continue;
            if (first < 0)
                first = int(t);
            last = int(t);
        }
        ranges.emplace_back(first < 0 ? 0 : first, first < 0 ? 0 : last - first + 1);
    }
    return ranges;
}

namespace {

struct QueryScores {
    std::vector<double> kl;   // per query
    std::vector<bool> agrees; // the argmax is the teacher's token at every target position
};

QueryScores scoreQueries(const model::CausalLM& lm, const PrefixState& prefix, const QuerySet& set)
{
    QueryScores scores;
    for (std::int64_t start = 0; start < set.size(); start += kCoverageChunk) {
        std::vector<std::int64_t> rows;
        for (std::int64_t row = start; row < std::min(set.size(), start + kCoverageChunk); ++row)
            rows.push_back(row);
        const QuerySet chunk = selectRows(set, rows);
        const at::Tensor logits =
            targetLogitsAfterPrefix(lm, prefix, chunk.embeds, chunk.lengths, chunk.targetIndex); // [b, L, V]
        const at::Tensor kl = meanOverPositions(forwardKlAt1(logits, chunk.teacher).clamp_min(0.0),
                                                chunk.teacher.mask);                 // [b]
        // Every target position's argmax is the teacher's ŷ_t (padding positions count as agreeing).
        const at::Tensor agrees =
            top1Agreement(logits, chunk.teacher).gt(0.5).logical_or(chunk.teacher.mask.logical_not()).all(1); // [b]
        const at::Tensor host = at::stack({kl, agrees.to(kl.scalar_type())}, 1).to(at::kCPU, at::kDouble).contiguous(); // [b, 2]
        for (std::int64_t r = 0; r < host.size(0); ++r) {
            scores.kl.push_back(host[r][0].item<double>());
            scores.agrees.push_back(host[r][1].item<double>() > 0.5);
        }
    }
    return scores;
}

} // namespace

CoverageMap computeCoverage(const CompressionTask::Impl& task, const std::vector<std::string>& pieces,
                            const TrainConfig& config, const SoftPrompt* sigma, const CoverageOptions& options,
                            const CoverageProgress& progress, const std::atomic<bool>* cancel)
{
    const auto started = std::chrono::steady_clock::now();
    if (!(options.influenceThreshold > 0.0) || !std::isfinite(options.influenceThreshold))
        throw Error("the influence threshold must be a positive number of nats (got " +
                    std::to_string(options.influenceThreshold) + ")");
    if (!(options.keepFraction > 0.0) || !std::isfinite(options.keepFraction))
        throw Error("the keep fraction must be a positive number (got " + std::to_string(options.keepFraction) +
                    ")");
    TrainConfig checked = config;
    if (sigma)
        checked.k = sigma->k;
    else
        checked.k = std::min<int>(checked.k, std::max<int>(1, int(task.contextIds.size())));
    task.validateInputs(checked);

    const model::CausalLM& lm = *task.model.lm;
    at::NoGradGuard noGrad;
    at::Tensor sigmaTensor;
    if (sigma) {
        sigmaTensor = tensorFromSoftPrompt(*sigma, lm.device()); // [k, d]
        if (sigmaTensor.size(1) != lm.config().hiddenSize)
            throw Error("σ has width " + std::to_string(sigmaTensor.size(1)) + " but the model's hidden size is " +
                        std::to_string(lm.config().hiddenSize) + "; it was trained for another model");
    }
    const auto checkCancel = [cancel] {
        if (cancel && cancel->load())
            throw Cancelled();
    };

    CoverageMap map;
    map.options = options;
    map.contextTokens = int(task.contextIds.size());
    for (const Query& query : task.queries)
        map.queries.push_back(query.text);
    const std::vector<TextSpan> spans = splitContextUnits(task.context, options.unit);
    const std::vector<std::pair<int, int>> ranges = unitTokenRanges(task.context, spans, pieces);

    const auto context = task.contextState();
    const auto records = task.teacher(config, nullptr);
    std::vector<int> all(task.queries.size());
    std::iota(all.begin(), all.end(), 0);
    const QuerySet set = buildQuerySet(task.model, all, task.queryIds, records, config.target);
    const std::size_t queryCount = task.queries.size();
    const double steps = double(spans.size() + (sigma ? 1 : 0));

    if (sigma) {
        const QueryScores scores = scoreQueries(lm, prefixFromEmbeddings(lm, task.aroundContext(sigmaTensor).unsqueeze(0)), set);
        map.hasSigma = true;
        map.sigmaKl = scores.kl;
        map.sigmaTop1 = scores.agrees;
        if (progress)
            progress(1.0 / steps);
    }
    const auto fixedCount = std::int64_t(task.preIds.size());
    for (std::size_t u = 0; u < spans.size(); ++u) {
        checkCancel();
        CoverageUnit unit;
        unit.span = spans[u];
        unit.text = task.context.substr(spans[u].begin, spans[u].end - spans[u].begin);
        unit.firstToken = ranges[u].first;
        unit.tokenCount = ranges[u].second;
        if (unit.tokenCount == 0) {
            unit.influence.assign(queryCount, 0.0);
            unit.answerChanges.assign(queryCount, false);
        } else {
            const PrefixState without = leaveOutPrefix(lm, context->prefix, fixedCount, task.contextIds,
                                                       unit.firstToken, unit.tokenCount);
            const QueryScores scores = scoreQueries(lm, without, set);
            unit.influence = scores.kl;
            for (bool agrees : scores.agrees)
                unit.answerChanges.push_back(!agrees);
        }
        for (std::size_t q = 0; q < queryCount; ++q) {
            unit.maxInfluence = std::max(unit.maxInfluence, unit.influence[q]);
            unit.meanInfluence += unit.influence[q] / double(queryCount);
            if (unit.influence[q] >= options.influenceThreshold)
                unit.mattersFor.push_back(int(q));
        }
        std::stable_sort(unit.mattersFor.begin(), unit.mattersFor.end(),
                         [&](int a, int b) { return unit.influence[std::size_t(a)] > unit.influence[std::size_t(b)]; });
        if (map.hasSigma)
            for (int q : unit.mattersFor)
                if (map.sigmaKl[std::size_t(q)] <= options.keepFraction * unit.influence[std::size_t(q)])
                    unit.keptFor.push_back(q);
        map.units.push_back(std::move(unit));
        if (progress)
            progress(double(u + 1 + (sigma ? 1 : 0)) / steps);
    }
    map.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return map;
}

} // namespace engine

CoverageMap computeCoverage(const ModelHandle& model, const std::string& context, const std::vector<Query>& queries,
                            const TrainConfig& config, const SoftPrompt* sigma, const CoverageOptions& options,
                            const CoverageProgress& progress, const std::atomic<bool>* cancel)
{
    if (!model.isLoaded())
        throw Error("no model is loaded; load a model before computing the coverage map");
    const auto task = engine::makeTaskImpl(engine::engineModelFromHandle(model), context, queries, options.format);
    const std::vector<std::string> pieces = model.tokenizer().decodePieces(task->contextIds);
    return engine::computeCoverage(*task, pieces, config, sigma, options, progress, cancel);
}

} // namespace sp
