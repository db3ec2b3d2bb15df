#include "engine/trainer_parts.h"

#include <algorithm>

namespace sp::engine {

BatchSampler::BatchSampler(std::int64_t setSize, std::int64_t batchSize, std::uint64_t seed)
    : setSize_(setSize), batchSize_(std::min(batchSize, setSize)), random_(seed)
{
}

std::vector<std::int64_t> BatchSampler::next()
{
    std::vector<std::int64_t> rows;
    while (std::int64_t(rows.size()) < batchSize_) {
        if (cursor_ == order_.size()) { // a new epoch in a new seeded order
            order_.resize(std::size_t(setSize_));
            for (std::size_t i = 0; i < order_.size(); ++i)
                order_[i] = std::int64_t(i);
            random_.shuffle(order_);
            cursor_ = 0;
        }
        rows.push_back(order_[cursor_++]);
    }
    return rows;
}

} // namespace sp::engine
