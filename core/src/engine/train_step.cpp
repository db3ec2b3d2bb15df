#include "engine/trainer_parts.h"

#include "optim/learning_rate.h"

namespace sp::engine {

double stepLearningRate(const TrainConfig& config, int step)
{
    return optim::warmupCosineLearningRate(step, config.steps, config.warmupSteps, config.learningRate,
                                           kLearningRateFloorFraction);
}

StepStats trainStep(const model::CausalLM& lm, const at::Tensor& preEmbeds, const at::Tensor& midEmbeds,
                    at::Tensor& sigma, optim::Adam& adam, const QuerySet& batch, const TrainConfig& config,
                    int step)
{
    const at::Tensor parameter = sigma.detach().requires_grad_(true); // [k, d]
    const at::Tensor logits = studentTargetLogits(lm, at::cat({preEmbeds, parameter, midEmbeds}, 0), batch.embeds,
                                                  batch.lengths, batch.targetIndex); // [b, L, V]
    const at::Tensor perQuery =
        meanOverPositions(objectivePerPosition(config.objective, logits, batch.teacher, config.temperature),
                          batch.teacher.mask);                              // [b]
    const at::Tensor loss = lossFromPerQuery(config.objective, perQuery); // []
    at::Tensor gradient = torch::autograd::grad({loss}, {parameter})[0];  // [k, d]
    const at::Tensor top1 =
        meanOverPositions(top1Agreement(logits.detach(), batch.teacher), batch.teacher.mask).mean(); // []
    const at::Tensor gradNorm = optim::clipGradientNorm({gradient}, config.gradClip);                // []
    StepStats stats;
    stats.learningRate = stepLearningRate(config, step);
    adam.step({sigma}, {gradient}, stats.learningRate);

    // The one host synchronisation of the step.
    const at::Tensor values = at::stack({perQuery.detach().mean(), top1, gradNorm,
                                         at::isfinite(sigma).all().to(at::kFloat)})
                                  .to(at::kCPU, at::kDouble); // [4]
    const double* read = values.data_ptr<double>();
    stats.trainS = read[0];
    stats.trainTop1 = read[1];
    stats.gradNorm = read[2];
    stats.sigmaFinite = read[3] > 0.5;
    return stats;
}

} // namespace sp::engine
