#pragma once
// The one train–evaluate–record flow. The GUI's worker, `softprompt train`/`sweep` and the cluster's
// array tasks (which run `softprompt train`) all call runTrainingSession(), so a run trained by any
// of them is trained, evaluated and stored by the same rules (core/src/session/README.md).
// Torch-free and Qt-free.
#include "softprompt/engine.h"
#include "softprompt/error.h"
#include "softprompt/run_store.h"

#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace sp {

// What to train and where to record it.
struct TrainingPlan {
    TrainConfig config;
    std::vector<int> sweepKs;  // not empty: a compression sweep over these k (config.k is ignored)
    std::string databasePath;  // the run store; empty: record nothing
    std::string runName;       // the run's label; a sweep's runs get ", k=N" appended
    std::string sweepName;     // the sweep's label (sweeps only)
    std::string querySetName;  // the stored query set's name
    std::string modelPath;     // recorded as the model's path when not empty ("demo", the --model folder)
    // Not empty: the runs join the sweep with this global id, created (named sweepName) when missing;
    // each Slurm task of a grid sweep records its grid point this way (softprompt train --sweep-uuid).
    std::string sweepUuid;
    std::vector<std::string> tags; // added to every run
};

// Everything optional; called on the thread that runs the session.
struct TrainingProgress {
    // Phases outside the steps: "evaluating the baselines", the engine's teacher phases, "evaluating σ".
    std::function<void(const std::string& phase, double fraction)> onPhase;
    // A run (one k) begins; runId is 0 when it is not recorded.
    std::function<void(std::int64_t runId, int sweepIndex, int k)> onRunStarted;
    std::function<void(const Evaluation& baselines)> onBaselines; // before the run's first step
    std::function<void(const StepReport& report)> onStep;
};

// Cancel and pause act as in TrainControl. skipEvaluation (set together with cancel when the front
// end is closing) also skips evaluating σ; what trained is still stored.
struct SessionControl : TrainControl {
    std::atomic<bool> skipEvaluation{false};
};

// One trained k.
struct RunOutcome {
    RunStatus status = RunStatus::Finished;
    std::int64_t runId = 0; // 0: not recorded
    TrainConfig config;     // the plan's config with this run's k
    TrainResult result;
    bool evaluated = false;
    Evaluation evaluation; // σ and every baseline, when evaluated
    int contextTokens = 0;
    double trainSeconds = 0.0;
    nlohmann::json summary; // runSummary(), as stored
    std::string message;    // failed: what happened and what to do; cancelled: where it stopped
    Remedy remedy = Remedy::None; // failed with an sp::Error: its remedy (front ends add their advice)
};

struct SessionOutcome {
    std::vector<RunOutcome> runs; // one per k trained; a sweep stops at the first k that does not finish
    std::int64_t sweepId = 0;     // 0: not a sweep, or not recorded
    // Not empty when the run store could not be opened or written: which file, what happened. The
    // runs trained anyway; every front end shows this to the user (and the CLI exits with an error).
    std::string storeError;

    RunStatus status() const; // the last run's (Finished when nothing ran)
};

// Validates every k first (throws sp::Error, nothing is recorded), then per k: starts the run in the
// store, evaluates the baselines, trains, evaluates σ and records σ, the evaluations and the summary.
// Failures of training or evaluation end up in the outcome (status Failed and a message), never as
// exceptions.
SessionOutcome runTrainingSession(CompressionTask& task, const TrainingPlan& plan,
                                  const TrainingProgress& progress, SessionControl& control);

// Adds σ's outcomes and aggregates to a baseline evaluation of the same queries (conditions in
// allConditions() order). False when the two do not line up query by query.
bool mergeEvaluations(const Evaluation& baselines, const Evaluation& sigma, Evaluation* merged);

} // namespace sp
