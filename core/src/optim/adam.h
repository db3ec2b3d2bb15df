#pragma once
// Adam/AdamW written out over a list of parameters, and global-norm gradient clipping. The engine
// trains σ (one [k, d] tensor) with it, the demo pretrainer every weight of the demo model.
// No host synchronisation: everything stays on the parameters' device.
#include "torch_common.h"

#include <vector>

namespace sp::optim {

struct AdamSettings {
    double beta1 = 0.9;
    double beta2 = 0.999;
    double epsilon = 1e-8;
    // Applied to parameters of two or more dimensions only (matrices, σ), never to norms or biases.
    double weightDecay = 0.0;
    bool decoupled = true; // AdamW (Loshchilov & Hutter); false = Adam with L2 added to the gradient
};

class Adam {
public:
    // `parameters` fixes the moments: zeros of each parameter's shape, dtype and device.
    explicit Adam(const std::vector<at::Tensor>& parameters, AdamSettings settings);
    // One update of each parameter in place with its gradient (same order as at construction) at
    // learning rate `lr`. A parameter whose gradient is undefined is left alone. The parameters are
    // passed on every step because a trainer may swap one for a restored copy between steps.
    void step(const std::vector<at::Tensor>& parameters, const std::vector<at::Tensor>& gradients, double lr);
    std::int64_t steps() const { return steps_; }

private:
    AdamSettings settings_;
    std::vector<at::Tensor> firstMoments_;  // same shapes as the parameters
    std::vector<at::Tensor> secondMoments_; // same shapes as the parameters
    std::int64_t steps_ = 0;
};

// Scales the gradients in place so that their global L2 norm is at most `maxNorm` (0 = no
// clipping). Returns the norm before clipping as a 0-dim tensor (no host sync). Undefined
// gradients are skipped.
at::Tensor clipGradientNorm(const std::vector<at::Tensor>& gradients, double maxNorm);

} // namespace sp::optim
