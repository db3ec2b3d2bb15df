#include "engine/statistics.h"

#include <algorithm>
#include <cmath>

namespace sp::engine {

namespace {

std::uint64_t splitmix64(std::uint64_t& state)
{
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

std::uint64_t rotateLeft(std::uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

} // namespace

Random::Random(std::uint64_t seed)
{
    for (std::uint64_t& word : state_)
        word = splitmix64(seed);
}

std::uint64_t Random::next()
{
    const std::uint64_t result = rotateLeft(state_[1] * 5, 7) * 9;
    const std::uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotateLeft(state_[3], 45);
    return result;
}

double Random::uniform()
{
    return double(next() >> 11) * 0x1.0p-53;
}

double Random::normal()
{
    const double u1 = 1.0 - uniform(); // (0, 1]: log stays finite
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

std::uint64_t Random::below(std::uint64_t n)
{
    // Lemire's multiply-shift; the tiny bias for huge n does not matter for shuffling queries.
    return std::uint64_t((unsigned __int128)next() * n >> 64);
}

Interval bootstrapMean(const std::vector<double>& values, std::uint64_t seed, int resamples)
{
    Interval interval;
    if (values.empty())
        return interval;
    const std::size_t n = values.size();
    double sum = 0.0;
    for (double value : values)
        sum += value;
    interval.mean = sum / double(n);
    if (n == 1 || resamples < 2) {
        interval.low = interval.high = interval.mean;
        return interval;
    }
    Random random(seed);
    std::vector<double> means(resamples);
    for (double& mean : means) {
        double resampled = 0.0;
        for (std::size_t i = 0; i < n; ++i)
            resampled += values[random.below(n)];
        mean = resampled / double(n);
    }
    std::sort(means.begin(), means.end());
    const auto quantile = [&](double q) {
        const double position = q * double(resamples - 1);
        const std::size_t lower = std::size_t(std::floor(position));
        const std::size_t upper = std::min(lower + 1, means.size() - 1);
        return means[lower] + (position - double(lower)) * (means[upper] - means[lower]);
    };
    interval.low = quantile(0.025);
    interval.high = quantile(0.975);
    return interval;
}

} // namespace sp::engine
