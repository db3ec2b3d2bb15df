#pragma once
// Query-set batching: the training/evaluation rows of a set of queries and their teacher targets.
#include "engine/objectives.h"
#include "engine/teacher_cache.h"

#include <cstdint>
#include <memory>
#include <vector>

namespace sp::engine {

// The training/evaluation tensors for a set of queries: rows z ⊕ ŷ[:L'-1] and the teacher targets.
struct QuerySet {
    std::vector<int> queries;               // task query index per row
    at::Tensor embeds;                      // [N, T, d] model dtype, right-padded
    std::vector<std::int64_t> lengths;      // valid tokens per row
    std::vector<std::int64_t> targetCounts; // real target positions per row (L' ≤ L)
    at::Tensor targetIndex;                 // [N, L] int64 row position of each target (|z|−1+t)
    TeacherTargets teacher;                 // [N, L, ...]
    std::int64_t tokens = 0;                // Σ lengths
    std::int64_t size() const { return std::int64_t(queries.size()); }
};
QuerySet buildQuerySet(const EngineModel& model, const std::vector<int>& queries,
                       const std::vector<std::vector<std::int32_t>>& queryIds,
                       const std::vector<std::shared_ptr<const TeacherRecord>>& records, TargetKind target);
// Rows `rows` of `set`, trimmed to their longest row.
QuerySet selectRows(const QuerySet& set, const std::vector<std::int64_t>& rows);

} // namespace sp::engine
