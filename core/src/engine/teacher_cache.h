#pragma once
// The teacher's results and the process-wide cache that keeps them: the context's KV cache (shared
// by every query) and, per query, the teacher's continuation and distributions. A second run on the
// same model, context, queries and settings computes nothing.
#include "engine/forward.h"

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace sp::engine {

struct ContextState {
    PrefixState prefix;            // the KV cache of pre ⊕ context ⊕ mid ids
    std::vector<double> surprisal; // per context token: −log p(c_t | pre, c_<t) (+inf when unpredicted)
};

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

} // namespace sp::engine
