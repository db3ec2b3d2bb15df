// The teacher computation: the context's KV cache and surprisal, and per query the greedy
// continuation ŷ with its distributions at the target positions, both through the process-wide
// cache (teacher_cache.cpp).
#include "engine/teacher.h"

#include "softprompt/hash.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace sp::engine {

namespace {

constexpr std::size_t kTeacherChunk = 16; // queries per teacher forward (bounds [B, L, V] logits)
// Context positions scored at a time for the pruning surprisal: bounds the [c, V] logits (and their
// log-softmax) to 2 x 256 x V floats (300 MB at 152k) however long the context is.
constexpr std::int64_t kSurprisalChunk = 256;

} // namespace

TeacherSettings teacherSettings(const TrainConfig& config, std::int64_t vocabSize)
{
    TeacherSettings settings;
    settings.temperature = config.temperature;
    settings.keep = vocabSize <= config.teacherFullVocabulary
                        ? vocabSize
                        : std::min<std::int64_t>(config.teacherTopK, vocabSize);
    settings.target = config.target;
    settings.length = std::max(1, config.continuationLength);
    return settings;
}

std::shared_ptr<const ContextState> contextState(const EngineModel& model,
                                                 const std::vector<std::int32_t>& preIds,
                                                 const std::vector<std::int32_t>& contextIds,
                                                 const std::vector<std::int32_t>& midIds,
                                                 const std::string& contextKey)
{
    TeacherCache& cache = TeacherCache::instance();
    if (auto cached = cache.context(contextKey))
        return cached;

    at::NoGradGuard noGrad;
    const model::CausalLM& lm = *model.lm;
    std::vector<std::int64_t> ids(preIds.begin(), preIds.end());
    ids.insert(ids.end(), contextIds.begin(), contextIds.end());
    ids.insert(ids.end(), midIds.begin(), midIds.end());
    const auto total = std::int64_t(ids.size());
    const at::Tensor idTensor = at::tensor(ids, at::kLong).view({1, total}).to(lm.device()); // [1, P]

    auto state = std::make_shared<ContextState>();
    // Final hidden states only: the positions are scored below in chunks, never [P, V] logits at once.
    model::ForwardInput input;
    input.inputsEmbeds = lm.embed(idTensor); // [1, P, d]
    input.positions = at::arange(total, at::TensorOptions().dtype(at::kLong).device(lm.device())).unsqueeze(0);
    input.positionRange = std::make_pair(std::int64_t(0), total - 1);
    input.returnCache = true;
    input.hiddenOnly = true;
    model::ForwardOutput output = lm.forward(input);
    state->prefix.cache = output.cache.asSharedPrefix(); // read in place by every query
    state->prefix.length = total;

    // Surprisal of token p given everything before it (LLMLingua-style pruning keeps the least
    // predictable tokens).
    const std::int64_t prefixCount = std::int64_t(preIds.size());
    const std::int64_t contextEnd = prefixCount + std::int64_t(contextIds.size());
    state->surprisal.assign(contextIds.size(), std::numeric_limits<double>::infinity());
    if (total > 1) {
        std::vector<at::Tensor> chunks;
        for (std::int64_t start = 0; start < total - 1; start += kSurprisalChunk) {
            const std::int64_t count = std::min(kSurprisalChunk, total - 1 - start);
            const at::Tensor logProbs =
                at::log_softmax(lm.logitsFromHidden(output.hidden[0].narrow(0, start, count)), -1); // [c, V]
            const at::Tensor next = idTensor[0].narrow(0, start + 1, count).unsqueeze(-1);        // [c, 1]
            chunks.push_back((-logProbs.gather(-1, next)).squeeze(-1).to(at::kCPU, at::kDouble)); // [c]
        }
        const at::Tensor surprisal = at::cat(chunks).contiguous(); // [P-1]
        const double* values = surprisal.data_ptr<double>();
        for (std::int64_t p = std::max<std::int64_t>(prefixCount, 1); p < contextEnd; ++p)
            state->surprisal[std::size_t(p - prefixCount)] = values[p - 1];
    }
    cache.storeContext(contextKey, state);
    return state;
}

namespace {

std::string recordKey(const std::string& contextKey, const std::string& queryText,
                      const TeacherSettings& settings)
{
    Sha256 hash;
    hash.update(contextKey);
    hash.update(std::string("\x1fquery\x1f") + queryText);
    char settingsText[160];
    std::snprintf(settingsText, sizeof settingsText, "\x1ftau=%.17g;keep=%lld;target=%d;length=%d",
                  settings.temperature, static_cast<long long>(settings.keep), int(settings.target),
                  settings.length);
    hash.update(settingsText);
    return hash.hexDigest();
}

} // namespace

std::vector<std::shared_ptr<const TeacherRecord>>
teacherRecords(const EngineModel& model, const ContextState& context, const std::string& contextKey,
               const std::vector<std::string>& queryTexts,
               const std::vector<std::vector<std::int32_t>>& queryIds, const TeacherSettings& settings,
               const Progress& progress)
{
    TeacherCache& cache = TeacherCache::instance();
    std::vector<std::shared_ptr<const TeacherRecord>> records(queryIds.size());
    std::vector<std::string> keys(queryIds.size());
    std::vector<std::size_t> missing;
    for (std::size_t i = 0; i < queryIds.size(); ++i) {
        keys[i] = recordKey(contextKey, queryTexts[i], settings);
        records[i] = cache.record(keys[i]);
        if (!records[i])
            missing.push_back(i);
    }

    at::NoGradGuard noGrad;
    for (std::size_t start = 0; start < missing.size(); start += kTeacherChunk) {
        if (progress)
            progress(double(start) / double(missing.size()));
        const std::size_t end = std::min(missing.size(), start + kTeacherChunk);
        std::vector<std::vector<std::int32_t>> rows;
        for (std::size_t m = start; m < end; ++m)
            rows.push_back(queryIds[missing[m]]);
        const GreedyResult greedy =
            greedyAfterPrefix(*model.lm, context.prefix, rows, settings.length, model.stopIds);
        const TeacherBuckets buckets =
            teacherBuckets(greedy.stepLogits, settings.keep, settings.temperature); // [B, S, K]
        const bool truncated = settings.keep < greedy.stepLogits.size(-1);
        for (std::size_t m = start; m < end; ++m) {
            const auto b = std::int64_t(m - start);
            auto record = std::make_shared<TeacherRecord>();
            record->continuation = greedy.tokens[std::size_t(b)];
            const std::int64_t positions =
                settings.target == TargetKind::NextToken ? 1 : std::int64_t(record->continuation.size());
            record->ids = buckets.ids[b].narrow(0, 0, positions).clone();           // [L', K]
            record->logits = buckets.logits[b].narrow(0, 0, positions).clone();     // [L', K]
            record->logProbs = buckets.logProbs[b].narrow(0, 0, positions).clone(); // [L', K']
            record->logProbs1 = settings.temperature == 1.0
                                    ? record->logProbs
                                    : buckets.logProbs1[b].narrow(0, 0, positions).clone();
            record->truncated = truncated;
            cache.storeRecord(keys[missing[m]], record);
            records[missing[m]] = std::move(record);
        }
    }
    if (progress)
        progress(1.0);
    return records;
}

} // namespace sp::engine
