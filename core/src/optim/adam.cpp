#include "optim/adam.h"

#include "softprompt/error.h"

#include <cmath>

namespace sp::optim {

Adam::Adam(const std::vector<at::Tensor>& parameters, AdamSettings settings) : settings_(settings)
{
    for (const at::Tensor& parameter : parameters) {
        firstMoments_.push_back(at::zeros_like(parameter.detach()));
        secondMoments_.push_back(at::zeros_like(parameter.detach()));
    }
}

void Adam::step(const std::vector<at::Tensor>& parameters, const std::vector<at::Tensor>& gradients,
                double lr)
{
    if (parameters.size() != firstMoments_.size() || gradients.size() != parameters.size())
        throw Error("Adam::step: " + std::to_string(parameters.size()) + " parameters and " +
                    std::to_string(gradients.size()) + " gradients for an optimiser made for " +
                    std::to_string(firstMoments_.size()));
    ++steps_;
    at::NoGradGuard noGrad;
    const double correction1 = 1.0 - std::pow(settings_.beta1, double(steps_));
    const double correction2 = 1.0 - std::pow(settings_.beta2, double(steps_));
    for (std::size_t i = 0; i < parameters.size(); ++i) {
        if (!gradients[i].defined())
            continue;
        const at::Tensor& parameter = parameters[i];
        const bool decays = settings_.weightDecay != 0.0 && parameter.dim() >= 2;
        at::Tensor g = gradients[i]; // same shape as the parameter
        if (decays && !settings_.decoupled)
            g = g + settings_.weightDecay * parameter;
        at::Tensor& m = firstMoments_[i];
        at::Tensor& v = secondMoments_[i];
        m.mul_(settings_.beta1).add_(g, 1.0 - settings_.beta1);
        v.mul_(settings_.beta2).addcmul_(g, g, 1.0 - settings_.beta2);
        if (decays && settings_.decoupled)
            parameter.mul_(1.0 - lr * settings_.weightDecay);
        // p -= lr · m̂ / (sqrt(v̂) + ε), with the bias corrections folded into the step size.
        const at::Tensor denominator = (v.sqrt() / std::sqrt(correction2)).add_(settings_.epsilon);
        parameter.addcdiv_(m, denominator, -lr / correction1);
    }
}

at::Tensor clipGradientNorm(const std::vector<at::Tensor>& gradients, double maxNorm)
{
    at::NoGradGuard noGrad;
    std::vector<at::Tensor> norms; // each []
    for (const at::Tensor& gradient : gradients)
        if (gradient.defined())
            norms.push_back(gradient.norm());
    if (norms.empty())
        return at::zeros({}, at::kFloat);
    // One tensor's norm as it is: σ's training stays bit for bit what it was with one gradient.
    const at::Tensor norm = norms.size() == 1 ? norms[0] : at::stack(norms).norm(); // []
    if (maxNorm > 0.0) {
        const at::Tensor scale = (maxNorm / (norm + 1e-6)).clamp_max(1.0); // []
        for (const at::Tensor& gradient : gradients)
            if (gradient.defined())
                gradient.mul_(scale);
    }
    return norm;
}

} // namespace sp::optim
