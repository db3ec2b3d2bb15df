#pragma once
// Small seeded statistics: a portable random generator (the same numbers on every platform and
// library, unlike std::normal_distribution), the 95% bootstrap interval of a mean.
#include "softprompt/engine.h"

#include <cstdint>
#include <vector>

namespace sp::engine {

// xoshiro256** seeded through splitmix64.
class Random {
public:
    explicit Random(std::uint64_t seed);
    std::uint64_t next();
    double uniform();                     // [0, 1)
    double normal();                      // standard normal (Box–Muller)
    std::uint64_t below(std::uint64_t n); // [0, n)
    template <typename T> void shuffle(std::vector<T>& values)
    {
        for (std::size_t i = values.size(); i > 1; --i)
            std::swap(values[i - 1], values[below(i)]);
    }

private:
    std::uint64_t state_[4];
};

// Mean with a 95% percentile-bootstrap interval (`resamples` resamples, seeded). Empty input gives
// all zeros; one value gives a zero-width interval.
Interval bootstrapMean(const std::vector<double>& values, std::uint64_t seed, int resamples = 2000);

} // namespace sp::engine
