#include "optim/learning_rate.h"

#include <algorithm>
#include <cmath>

namespace sp::optim {

double warmupCosineLearningRate(int step, int totalSteps, int warmupSteps, double peak, double floorFraction)
{
    if (warmupSteps > 0 && step <= warmupSteps)
        return peak * double(step) / double(warmupSteps);
    const int decaySteps = totalSteps - std::max(warmupSteps, 0);
    if (decaySteps <= 0)
        return peak;
    const double progress = std::min(1.0, double(step - std::max(warmupSteps, 0)) / double(decaySteps));
    const double floor = peak * floorFraction;
    return floor + (peak - floor) * 0.5 * (1.0 + std::cos(M_PI * progress));
}

} // namespace sp::optim
