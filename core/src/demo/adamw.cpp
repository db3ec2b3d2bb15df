#include "demo/adamw.h"

#include <cmath>

namespace sp::demo {

AdamW::AdamW(std::vector<at::Tensor> parameters, AdamWSettings settings)
    : parameters_(std::move(parameters)), settings_(settings)
{
    for (const at::Tensor& parameter : parameters_) {
        firstMoments_.push_back(at::zeros_like(parameter));
        secondMoments_.push_back(at::zeros_like(parameter));
    }
}

double AdamW::clipGradients(double maxNorm)
{
    at::NoGradGuard noGrad;
    // One host transfer for all parameters, not one .item() each (a sync per parameter stalls a
    // GPU); the sum runs in double, in parameter order, so CPU results stay bit for bit as before.
    std::vector<at::Tensor> squaredNorms; // each []
    for (const at::Tensor& parameter : parameters_)
        if (parameter.grad().defined())
            squaredNorms.push_back(parameter.grad().pow(2).sum());
    if (squaredNorms.empty())
        return 0.0;
    const at::Tensor hostNorms = at::stack(squaredNorms).to(at::kCPU, at::kDouble).contiguous(); // [P]
    double squaredSum = 0.0;
    for (std::int64_t i = 0; i < hostNorms.size(0); ++i)
        squaredSum += hostNorms.data_ptr<double>()[i];
    const double norm = std::sqrt(squaredSum);
    if (maxNorm > 0.0 && norm > maxNorm) {
        const double scale = maxNorm / (norm + 1e-6);
        for (const at::Tensor& parameter : parameters_)
            if (parameter.grad().defined())
                parameter.grad().mul_(scale);
    }
    return norm;
}

void AdamW::step(double lr)
{
    at::NoGradGuard noGrad;
    ++stepCount_;
    const double beta1 = settings_.beta1;
    const double beta2 = settings_.beta2;
    const double firstCorrection = 1.0 - std::pow(beta1, double(stepCount_));
    const double secondCorrection = 1.0 - std::pow(beta2, double(stepCount_));
    for (std::size_t i = 0; i < parameters_.size(); ++i) {
        at::Tensor& parameter = parameters_[i];
        const at::Tensor gradient = parameter.grad();
        if (!gradient.defined())
            continue;
        at::Tensor& m = firstMoments_[i];
        at::Tensor& v = secondMoments_[i];
        m.mul_(beta1).add_(gradient, 1.0 - beta1);
        v.mul_(beta2).addcmul_(gradient, gradient, 1.0 - beta2);
        if (settings_.weightDecay > 0.0 && parameter.dim() >= 2)
            parameter.mul_(1.0 - lr * settings_.weightDecay);
        const at::Tensor denominator = (v / secondCorrection).sqrt_().add_(settings_.epsilon);
        parameter.addcdiv_(m, denominator, -lr / firstCorrection);
        gradient.zero_();
    }
}

double warmupCosineLearningRate(long long step, long long totalSteps, long long warmupSteps, double peak,
                                double minFraction)
{
    if (step < warmupSteps)
        return peak * double(step + 1) / double(warmupSteps);
    const double span = double(std::max(1LL, totalSteps - warmupSteps));
    const double progress = std::min(1.0, double(step - warmupSteps) / span);
    const double cosine = 0.5 * (1.0 + std::cos(M_PI * progress));
    return peak * (minFraction + (1.0 - minFraction) * cosine);
}

} // namespace sp::demo
