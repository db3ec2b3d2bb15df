#pragma once
// The pieces of CompressionTask::Impl::train (trainer.cpp), one file each: which queries a step
// trains on (batch_sampler.cpp), the step itself (train_step.cpp), what a non-finite step means
// (divergence.cpp), when held-out s stops improving (early_stopping.cpp), and the step's report
// (step_report.cpp).
#include "engine/statistics.h"
#include "engine/teacher.h"
#include "optim/adam.h"

#include "softprompt/engine.h"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sp::engine {

// Minibatches of training-set rows: each epoch visits every row once, in a new seeded order.
class BatchSampler {
public:
    BatchSampler(std::int64_t setSize, std::int64_t batchSize, std::uint64_t seed);
    std::vector<std::int64_t> next(); // batchSize rows (an epoch may end inside a batch)
    std::int64_t batchSize() const { return batchSize_; }

private:
    std::int64_t setSize_;
    std::int64_t batchSize_;
    Random random_;
    std::vector<std::int64_t> order_;
    std::size_t cursor_ = 0;
};

// What a step measured, read back from the device in one synchronisation.
struct StepStats {
    double trainS = 0.0;
    double trainTop1 = 0.0;
    double gradNorm = 0.0; // before clipping
    double learningRate = 0.0;
    bool sigmaFinite = true; // σ after the update
};

// One optimisation step on `batch`: the student forward with pre ⊕ σ ⊕ mid before each query
// (preEmbeds [|pre|, d], midEmbeds [|mid|, d]; engine/prompt_layout.h), s, its gradient (clipped), and
// the Adam update of `sigma` in place.
StepStats trainStep(const model::CausalLM& lm, const at::Tensor& preEmbeds, const at::Tensor& midEmbeds,
                    at::Tensor& sigma, optim::Adam& adam, const QuerySet& batch, const TrainConfig& config,
                    int step);

// σ's learning rate decays from the peak to this fraction of it (optim/learning_rate.h).
constexpr double kLearningRateFloorFraction = 0.1;

// The learning rate of update `step` (1-based) of a run with `config`.
double stepLearningRate(const TrainConfig& config, int step);

// The step diverged when s, the gradient norm or the updated σ is not finite. Then σ is put back
// (to the σ before the step when only the update went wrong, else to the last σ whose s was finite)
// and the returned text says what happened and what to do.
std::optional<std::string> handleDivergence(const StepStats& stats, int step, const TrainConfig& config,
                                            at::Tensor& sigma, const at::Tensor& before,
                                            const at::Tensor& lastGood);

// Tracks the best held-out σ; says when `earlyStopPatience` evaluations in a row brought no
// improvement.
class EarlyStopping {
public:
    explicit EarlyStopping(const TrainConfig& config);
    // Records an evaluation of `sigma`; true when training should stop.
    bool record(double heldoutS, const at::Tensor& sigma);
    const at::Tensor& best() const { return best_; } // [k, d]; undefined before the first evaluation

private:
    bool higherIsBetter_;
    int patience_;
    at::Tensor best_;
    double bestHeldout_ = 0.0;
    int evaluationsWithoutImprovement_ = 0;
};

// The step's report: its measurements, throughput and the ETA. `trainSeconds` (all steps so far,
// this one included) and `tokens` (the step's tokens, σ and prefix included) come from the trainer.
StepReport stepReport(int step, const TrainConfig& config, const StepStats& stats, double stepSeconds,
                      double trainSeconds, std::int64_t tokens);

} // namespace sp::engine
