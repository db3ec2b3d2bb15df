#pragma once
// Adam/AdamW written out on the one tensor being optimised (σ), the warm-up + cosine schedule and
// global-norm gradient clipping. No host synchronisation: everything stays on σ's device.
#include "torch_common.h"

#include <string>

namespace sp::engine {

struct AdamSettings {
    double beta1 = 0.9;
    double beta2 = 0.999;
    double epsilon = 1e-8;
    double weightDecay = 0.0;
    bool decoupled = true; // AdamW (Loshchilov & Hutter); false = Adam with L2 added to the gradient
};

class Adam {
public:
    Adam(const at::Tensor& parameter, AdamSettings settings);
    // One update of `parameter` in place with `gradient` at learning rate `lr`.
    void step(at::Tensor& parameter, const at::Tensor& gradient, double lr);
    std::int64_t steps() const { return steps_; }

private:
    AdamSettings settings_;
    at::Tensor firstMoment_;  // same shape as the parameter, fp32
    at::Tensor secondMoment_; // same shape as the parameter, fp32
    std::int64_t steps_ = 0;
};

// Linear warm-up over `warmupSteps` to `peak`, then cosine decay to `floorFraction` × peak at
// `totalSteps`. `step` is 1-based.
double scheduledLearningRate(int step, int totalSteps, int warmupSteps, double peak,
                             double floorFraction = 0.1);

// Scales `gradient` in place so its L2 norm is at most `maxNorm` (0 = no clipping).
// Returns the norm before clipping as a 0-dim tensor (no host sync).
at::Tensor clipGradientNorm(at::Tensor& gradient, double maxNorm);

} // namespace sp::engine
