// Query-set batching: the rows z ⊕ ŷ[:L'-1] of a set of queries with their teacher targets, and
// minibatches of those rows.
#include "engine/query_set.h"

#include <algorithm>

namespace sp::engine {

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
