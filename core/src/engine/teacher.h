#pragma once
// The teacher, computed once: the context's KV cache (shared by every query) and, per query, the
// teacher's greedy continuation ŷ and its distributions at the target positions (full for small
// vocabularies, else top-K + tail). Both are cached process-wide (teacher_cache.h), so a second run
// on the same model, context, queries and settings computes nothing. The rows built from them are
// in query_set.h.
#include "engine/forward.h"
#include "engine/objectives.h"
#include "engine/query_set.h"
#include "engine/teacher_cache.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace sp::engine {

struct TeacherSettings {
    double temperature = 1.0;
    std::int64_t keep = 64; // K; equal to V when the full distribution is kept
    TargetKind target = TargetKind::NextToken;
    int length = 8; // L: greedy continuation length (and target positions for Continuation)
};
TeacherSettings teacherSettings(const TrainConfig& config, std::int64_t vocabSize);

// The context's state, from the cache or computed (one forward over pre ⊕ context ⊕ mid).
std::shared_ptr<const ContextState> contextState(const EngineModel& model,
                                                 const std::vector<std::int32_t>& preIds,
                                                 const std::vector<std::int32_t>& contextIds,
                                                 const std::vector<std::int32_t>& midIds,
                                                 const std::string& contextKey);

using Progress = std::function<void(double fraction)>; // may throw sp::Cancelled

// Teacher records for `queryIds` (one per query; texts key the cache).
std::vector<std::shared_ptr<const TeacherRecord>>
teacherRecords(const EngineModel& model, const ContextState& context, const std::string& contextKey,
               const std::vector<std::string>& queryTexts,
               const std::vector<std::vector<std::int32_t>>& queryIds, const TeacherSettings& settings,
               const Progress& progress);

} // namespace sp::engine
