#include "engine/optimizer.h"

#include <cmath>

namespace sp::engine {

Adam::Adam(const at::Tensor& parameter, AdamSettings settings)
    : settings_(settings), firstMoment_(at::zeros_like(parameter)), secondMoment_(at::zeros_like(parameter))
{
}

void Adam::step(at::Tensor& parameter, const at::Tensor& gradient, double lr)
{
    ++steps_;
    at::NoGradGuard noGrad;
    at::Tensor g = gradient; // [k, d]
    if (!settings_.decoupled && settings_.weightDecay != 0.0)
        g = g + settings_.weightDecay * parameter;
    firstMoment_.mul_(settings_.beta1).add_(g, 1.0 - settings_.beta1);
    secondMoment_.mul_(settings_.beta2).addcmul_(g, g, 1.0 - settings_.beta2);
    const double correction1 = 1.0 - std::pow(settings_.beta1, double(steps_));
    const double correction2 = 1.0 - std::pow(settings_.beta2, double(steps_));
    if (settings_.decoupled && settings_.weightDecay != 0.0)
        parameter.mul_(1.0 - lr * settings_.weightDecay);
    // p -= lr · m̂ / (sqrt(v̂) + ε), with the bias corrections folded into the step size.
    const at::Tensor denominator =
        (secondMoment_.sqrt() / std::sqrt(correction2)).add_(settings_.epsilon); // [k, d]
    parameter.addcdiv_(firstMoment_, denominator, -lr / correction1);
}

double scheduledLearningRate(int step, int totalSteps, int warmupSteps, double peak, double floorFraction)
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

at::Tensor clipGradientNorm(at::Tensor& gradient, double maxNorm)
{
    at::NoGradGuard noGrad;
    const at::Tensor norm = gradient.norm(); // []
    if (maxNorm > 0.0) {
        const at::Tensor scale = (maxNorm / (norm + 1e-6)).clamp_max(1.0); // []
        gradient.mul_(scale);
    }
    return norm;
}

} // namespace sp::engine
