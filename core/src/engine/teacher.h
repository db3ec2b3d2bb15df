#pragma once
// The teacher, computed once: the context's KV cache (shared by every query) and, per query, the
// teacher's greedy continuation ŷ and its distributions at the target positions (full for small
// vocabularies, else top-K + tail). Both are cached process-wide, so a second run on the same
// model, context, queries and settings computes nothing.
#include "engine/forward.h"
#include "engine/objectives.h"

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace sp::engine {

struct ContextState {
    PrefixState prefix;            // the KV cache of prefixIds ⊕ context ids
    std::vector<double> surprisal; // per context token: −log p(c_t | prefix, c_<t) (+inf when unpredicted)
};

struct TeacherSettings {
    double temperature = 1.0;
    std::int64_t keep = 64; // K; equal to V when the full distribution is kept
    TargetKind target = TargetKind::NextToken;
    int length = 8; // L: greedy continuation length (and target positions for Continuation)
};
TeacherSettings teacherSettings(const TrainConfig& config, std::int64_t vocabSize);

struct TeacherRecord {
    std::vector<std::int32_t> continuation; // ŷ: greedy, up to L tokens, ending at a stop id
    at::Tensor ids;                         // [L', K] int64 (L' = 1 for next-token targets, else |ŷ|)
    at::Tensor logits;                      // [L', K] raw logits at ids
    at::Tensor logProbs;                    // [L', K'] bucket log-probabilities at τ
    at::Tensor logProbs1;                   // [L', K'] at τ = 1
    bool truncated = false;
    std::size_t bytes() const;
};

class TeacherCache {
public:
    static TeacherCache& instance();

    std::shared_ptr<const ContextState> context(const std::string& key);
    void storeContext(const std::string& key, std::shared_ptr<const ContextState> state);
    std::shared_ptr<const TeacherRecord> record(const std::string& key);
    void storeRecord(const std::string& key, std::shared_ptr<const TeacherRecord> record);

    struct Stats {
        std::int64_t recordHits = 0, recordMisses = 0, contextHits = 0, contextMisses = 0;
    };
    Stats stats() const;
    void clear();

private:
    mutable std::mutex mutex_;
    // Few contexts (each a whole KV cache); records up to a byte budget, oldest evicted first.
    std::vector<std::pair<std::string, std::shared_ptr<const ContextState>>> contexts_;
    std::unordered_map<std::string, std::shared_ptr<const TeacherRecord>> records_;
    std::vector<std::string> recordOrder_;
    std::size_t recordBytes_ = 0;
    Stats stats_;
};

// The context's state, from the cache or computed (one forward over prefix ⊕ context).
std::shared_ptr<const ContextState> contextState(const EngineModel& model,
                                                 const std::vector<std::int32_t>& contextIds,
                                                 const std::string& contextKey);

using Progress = std::function<void(double fraction)>; // may throw sp::Cancelled

// Teacher records for `queryIds` (one per query; texts key the cache).
std::vector<std::shared_ptr<const TeacherRecord>>
teacherRecords(const EngineModel& model, const ContextState& context, const std::string& contextKey,
               const std::vector<std::string>& queryTexts,
               const std::vector<std::vector<std::int32_t>>& queryIds, const TeacherSettings& settings,
               const Progress& progress);

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
