#include "engine/trainer_parts.h"

#include <algorithm>

namespace sp::engine {

StepReport stepReport(int step, const TrainConfig& config, const StepStats& stats, double stepSeconds,
                      double trainSeconds, std::int64_t tokens)
{
    StepReport report;
    report.step = step;
    report.totalSteps = config.steps;
    report.trainS = stats.trainS;
    report.trainTop1 = stats.trainTop1;
    report.learningRate = stats.learningRate;
    report.gradNorm = stats.gradNorm;
    report.stepSeconds = stepSeconds;
    report.tokensPerSecond = double(tokens) / std::max(stepSeconds, 1e-9);
    report.elapsedSeconds = trainSeconds;
    report.etaSeconds = trainSeconds / step * (config.steps - step);
    return report;
}

} // namespace sp::engine
