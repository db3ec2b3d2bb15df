#include "engine/trainer_parts.h"

namespace sp::engine {

EarlyStopping::EarlyStopping(const TrainConfig& config)
    : higherIsBetter_(objectiveInfo(config.objective).higherIsBetter), patience_(config.earlyStopPatience)
{
}

bool EarlyStopping::record(double heldoutS, const at::Tensor& sigma)
{
    const bool improves = higherIsBetter_ ? heldoutS > bestHeldout_ : heldoutS < bestHeldout_;
    if (!best_.defined() || improves) {
        bestHeldout_ = heldoutS;
        best_ = sigma.clone();
        evaluationsWithoutImprovement_ = 0;
        return false;
    }
    return patience_ > 0 && ++evaluationsWithoutImprovement_ >= patience_;
}

} // namespace sp::engine
