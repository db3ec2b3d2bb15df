#include "engine/trainer_parts.h"

#include <cmath>

namespace sp::engine {

std::optional<std::string> handleDivergence(const StepStats& stats, int step, const TrainConfig& config,
                                            at::Tensor& sigma, const at::Tensor& before,
                                            const at::Tensor& lastGood)
{
    const bool lossBad = !std::isfinite(stats.trainS);
    const bool normBad = !std::isfinite(stats.gradNorm);
    if (!lossBad && !normBad && stats.sigmaFinite)
        return std::nullopt;
    sigma = lossBad ? lastGood : before;
    return "training diverged at step " + std::to_string(step) + ": " +
           (lossBad    ? "s is " + std::to_string(stats.trainS)
            : normBad  ? "the gradient norm is " + std::to_string(stats.gradNorm)
                       : std::string("the update made σ non-finite")) +
           (lossBad && step == 1 ? " for the starting σ (there is no good σ to keep)"
                                 : "; kept the last σ whose s was finite") +
           ". Lower the learning rate (it was " + std::to_string(config.learningRate) +
           ") or enable gradient clipping";
}

} // namespace sp::engine
