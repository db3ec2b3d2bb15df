#include "engine/teacher.h"

#include "softprompt/hash.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace sp::engine {

namespace {

constexpr std::size_t kMaxCachedContexts = 2;
constexpr std::size_t kRecordByteBudget = std::size_t(1) << 30;
constexpr std::size_t kTeacherChunk = 16; // queries per teacher forward (bounds [B, L, V] logits)

std::size_t tensorBytes(const at::Tensor& tensor)
{
    return tensor.defined() ? std::size_t(tensor.numel()) * tensor.element_size() : 0;
}

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

std::size_t TeacherRecord::bytes() const
{
    return tensorBytes(ids) + tensorBytes(logits) + tensorBytes(logProbs) +
           (logProbs1.is_same(logProbs) ? 0 : tensorBytes(logProbs1)) + continuation.size() * 4 + 128;
}

TeacherCache& TeacherCache::instance()
{
    static TeacherCache cache;
    return cache;
}

std::shared_ptr<const ContextState> TeacherCache::context(const std::string& key)
{
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = contexts_.begin(); it != contexts_.end(); ++it) {
        if (it->first == key) {
            auto entry = *it; // most recently used last
            contexts_.erase(it);
            contexts_.push_back(entry);
            ++stats_.contextHits;
            return entry.second;
        }
    }
    ++stats_.contextMisses;
    return nullptr;
}

void TeacherCache::storeContext(const std::string& key, std::shared_ptr<const ContextState> state)
{
    std::lock_guard<std::mutex> lock(mutex_);
    contexts_.erase(std::remove_if(contexts_.begin(), contexts_.end(),
                                   [&](const auto& entry) { return entry.first == key; }),
                    contexts_.end());
    contexts_.emplace_back(key, std::move(state));
    while (contexts_.size() > kMaxCachedContexts)
        contexts_.erase(contexts_.begin());
}

std::shared_ptr<const TeacherRecord> TeacherCache::record(const std::string& key)
{
    std::lock_guard<std::mutex> lock(mutex_);
    const auto found = records_.find(key);
    if (found == records_.end()) {
        ++stats_.recordMisses;
        return nullptr;
    }
    ++stats_.recordHits;
    return found->second;
}

void TeacherCache::storeRecord(const std::string& key, std::shared_ptr<const TeacherRecord> record)
{
    std::lock_guard<std::mutex> lock(mutex_);
    if (records_.count(key))
        return;
    recordBytes_ += record->bytes();
    records_.emplace(key, std::move(record));
    recordOrder_.push_back(key);
    std::size_t evicted = 0;
    while (recordBytes_ > kRecordByteBudget && evicted + 1 < recordOrder_.size()) {
        const auto found = records_.find(recordOrder_[evicted]);
        recordBytes_ -= found->second->bytes();
        records_.erase(found);
        ++evicted;
    }
    recordOrder_.erase(recordOrder_.begin(), recordOrder_.begin() + std::ptrdiff_t(evicted));
}

TeacherCache::Stats TeacherCache::stats() const
{
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
}

void TeacherCache::clear()
{
    std::lock_guard<std::mutex> lock(mutex_);
    contexts_.clear();
    records_.clear();
    recordOrder_.clear();
    recordBytes_ = 0;
    stats_ = {};
}

std::shared_ptr<const ContextState> contextState(const EngineModel& model,
                                                 const std::vector<std::int32_t>& contextIds,
                                                 const std::string& contextKey)
{
    TeacherCache& cache = TeacherCache::instance();
    if (auto cached = cache.context(contextKey))
        return cached;

    at::NoGradGuard noGrad;
    const model::CausalLM& lm = *model.lm;
    std::vector<std::int64_t> ids(model.prefixIds.begin(), model.prefixIds.end());
    ids.insert(ids.end(), contextIds.begin(), contextIds.end());
    const auto total = std::int64_t(ids.size());
    const at::Tensor idTensor = at::tensor(ids, at::kLong).view({1, total}).to(lm.device()); // [1, P]

    auto state = std::make_shared<ContextState>();
    model::ForwardOutput output = lm.forwardIds(idTensor, nullptr, true);
    state->prefix.cache = std::move(output.cache);
    state->prefix.length = total;

    // Surprisal of token p given everything before it (LLMLingua-style pruning keeps the least
    // predictable tokens).
    const std::int64_t prefixCount = std::int64_t(model.prefixIds.size());
    state->surprisal.assign(contextIds.size(), std::numeric_limits<double>::infinity());
    if (total > 1) {
        const at::Tensor logProbs = at::log_softmax(output.logits[0].narrow(0, 0, total - 1), -1); // [P-1, V]
        const at::Tensor next = idTensor[0].narrow(0, 1, total - 1).unsqueeze(-1);                 // [P-1, 1]
        const at::Tensor surprisal =
            (-logProbs.gather(-1, next)).squeeze(-1).to(at::kCPU, at::kDouble).contiguous(); // [P-1]
        const double* values = surprisal.data_ptr<double>();
        for (std::int64_t p = std::max<std::int64_t>(prefixCount, 1); p < total; ++p)
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

QuerySet buildQuerySet(const EngineModel& model, const std::vector<int>& queries,
                       const std::vector<std::vector<std::int32_t>>& queryIds,
                       const std::vector<std::shared_ptr<const TeacherRecord>>& records, TargetKind target)
{
    at::NoGradGuard noGrad;
    const at::Device device = model.lm->device();
    QuerySet set;
    set.queries = queries;
    const auto count = std::int64_t(queries.size());
    std::vector<std::vector<std::int32_t>> rows;
    std::int64_t positions = 1;
    for (int query : queries) {
        const TeacherRecord& record = *records[std::size_t(query)];
        const std::int64_t targets = record.ids.size(0);
        std::vector<std::int32_t> row = queryIds[std::size_t(query)];
        if (target == TargetKind::Continuation)
            row.insert(row.end(), record.continuation.begin(), record.continuation.begin() + (targets - 1));
        rows.push_back(std::move(row));
        set.targetCounts.push_back(targets);
        positions = std::max(positions, targets);
    }
    const RowBatch batch = makeRowBatch(rows, 0, device);
    set.embeds = model.lm->embed(batch.ids); // [N, T, d]
    set.lengths = batch.lengths;
    for (std::int64_t length : set.lengths)
        set.tokens += length;

    const TeacherRecord& first = *records[std::size_t(queries.front())];
    const std::int64_t kept = first.ids.size(1);
    const std::int64_t buckets = first.logProbs.size(1);
    std::vector<std::int64_t> targetIndex(std::size_t(count * positions), 0);
    std::vector<std::int64_t> outputIds(std::size_t(count * positions), 0);
    std::vector<std::uint8_t> mask(std::size_t(count * positions), 0);
    TeacherTargets& teacher = set.teacher;
    teacher.truncated = first.truncated;
    teacher.ids = at::zeros({count, positions, kept}, first.ids.options());                 // [N, L, K]
    teacher.logits = at::zeros({count, positions, kept}, first.logits.options());           // [N, L, K]
    teacher.logProbs = at::zeros({count, positions, buckets}, first.logProbs.options());    // [N, L, K']
    teacher.logProbsAt1 = at::zeros({count, positions, buckets}, first.logProbs.options()); // [N, L, K']
    for (std::int64_t row = 0; row < count; ++row) {
        const TeacherRecord& record = *records[std::size_t(queries[std::size_t(row)])];
        const std::int64_t targets = set.targetCounts[std::size_t(row)];
        const std::int64_t queryLength =
            std::int64_t(queryIds[std::size_t(queries[std::size_t(row)])].size());
        for (std::int64_t t = 0; t < targets; ++t) {
            targetIndex[std::size_t(row * positions + t)] = queryLength - 1 + t;
            outputIds[std::size_t(row * positions + t)] = record.continuation[std::size_t(t)];
            mask[std::size_t(row * positions + t)] = 1;
        }
        teacher.ids[row].narrow(0, 0, targets).copy_(record.ids);
        teacher.logits[row].narrow(0, 0, targets).copy_(record.logits);
        teacher.logProbs[row].narrow(0, 0, targets).copy_(record.logProbs);
        teacher.logProbsAt1[row].narrow(0, 0, targets).copy_(record.logProbs1);
    }
    set.targetIndex = at::tensor(targetIndex, at::kLong).view({count, positions}).to(device); // [N, L]
    teacher.outputIds = at::tensor(outputIds, at::kLong).view({count, positions}).to(device); // [N, L]
    teacher.mask = at::tensor(at::ArrayRef<std::uint8_t>(mask), at::kByte)
                       .view({count, positions})
                       .to(device, at::kBool); // [N, L]
    return set;
}

QuerySet selectRows(const QuerySet& set, const std::vector<std::int64_t>& rows)
{
    QuerySet subset;
    std::int64_t width = 1, positions = 1;
    for (std::int64_t row : rows) {
        subset.queries.push_back(set.queries[std::size_t(row)]);
        subset.lengths.push_back(set.lengths[std::size_t(row)]);
        subset.targetCounts.push_back(set.targetCounts[std::size_t(row)]);
        subset.tokens += set.lengths[std::size_t(row)];
        width = std::max(width, set.lengths[std::size_t(row)]);
        positions = std::max(positions, set.targetCounts[std::size_t(row)]);
    }
    const at::Tensor index = toDeviceWithoutWaiting(at::tensor(rows, at::kLong), set.embeds.device()); // [b]
    const auto pick = [&](const at::Tensor& tensor, std::int64_t dim1) {
        return tensor.index_select(0, index).narrow(1, 0, dim1).contiguous();
    };
    subset.embeds = pick(set.embeds, width);               // [b, T, d]
    subset.targetIndex = pick(set.targetIndex, positions); // [b, L]
    subset.teacher.truncated = set.teacher.truncated;
    subset.teacher.ids = pick(set.teacher.ids, positions);                 // [b, L, K]
    subset.teacher.logits = pick(set.teacher.logits, positions);           // [b, L, K]
    subset.teacher.logProbs = pick(set.teacher.logProbs, positions);       // [b, L, K']
    subset.teacher.logProbsAt1 = pick(set.teacher.logProbsAt1, positions); // [b, L, K']
    subset.teacher.outputIds = pick(set.teacher.outputIds, positions);     // [b, L]
    subset.teacher.mask = pick(set.teacher.mask, positions);               // [b, L]
    return subset;
}

} // namespace sp::engine
