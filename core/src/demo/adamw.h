#pragma once
// AdamW (Loshchilov & Hutter) with a linear warm-up and a cosine decay, written out in the
// style of llm.c so the demo model's training is easy to read and reproduce.
#include "torch_common.h"

#include <vector>

namespace sp::demo {

struct AdamWSettings {
    double beta1 = 0.9;
    double beta2 = 0.95;
    double epsilon = 1e-8;
    double weightDecay = 0.0; // decoupled; applied to matrices only, never to norms
};

class AdamW {
public:
    AdamW(std::vector<at::Tensor> parameters, AdamWSettings settings);

    // Scales all gradients so their global L2 norm is at most maxNorm (0 = off); returns the norm
    // before scaling.
    double clipGradients(double maxNorm);
    // One update with learning rate `lr`, then zeroes the gradients.
    void step(double lr);

private:
    std::vector<at::Tensor> parameters_;
    std::vector<at::Tensor> firstMoments_;  // same shapes as the parameters
    std::vector<at::Tensor> secondMoments_; // same shapes as the parameters
    AdamWSettings settings_;
    long long stepCount_ = 0;
};

// Linear warm-up to `peak` over `warmupSteps`, then a half cosine down to peak * minFraction at
// `totalSteps`.
double warmupCosineLearningRate(long long step, long long totalSteps, long long warmupSteps, double peak,
                                double minFraction);

} // namespace sp::demo
