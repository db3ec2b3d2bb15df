// The process-wide teacher cache: context KV caches and per-query teacher records, kept across runs.
#include "engine/teacher_cache.h"

#include <algorithm>

namespace sp::engine {

namespace {

constexpr std::size_t kMaxCachedContexts = 2;
constexpr std::size_t kRecordByteBudget = std::size_t(1) << 30;

std::size_t tensorBytes(const at::Tensor& tensor)
{
    return tensor.defined() ? std::size_t(tensor.numel()) * tensor.element_size() : 0;
}

} // namespace

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

} // namespace sp::engine
