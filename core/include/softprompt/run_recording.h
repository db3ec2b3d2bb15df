#pragma once
// Recording a compression run in the run store, shared by the CLI and the GUI so that a run stored by
// either has the same metric names, the same evaluation rows and the same summary keys; and reading
// those records back into the engine's shapes, so a reopened run looks exactly like a fresh one.
// Torch-free and Qt-free.
#include "softprompt/engine.h"
#include "softprompt/run_store.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sp {

// ---- before training -----------------------------------------------------------------------------
// The task's queries as stored, each marked held out as the task will split them under `config`.
std::vector<StoredQuery> storedQueries(const std::vector<Query>& queries, const std::vector<bool>& heldOut);

struct StoredInputs {
    std::int64_t contextId = 0;
    std::int64_t querySetId = 0;
};
// Stores the task's context (with its token count for this model) and its query set named
// `querySetName`, both deduplicated by content.
StoredInputs storeTaskInputs(RunStore& store, const CompressionTask& task, const TrainConfig& config,
                             const std::string& querySetName);

// The run to pass to RunStore::startRun. `modelPath` replaces the summary's path when not empty
// (the CLI's --model argument, or "demo").
NewRun newRunFor(const std::string& name, const TrainConfig& config, const ModelSummary& model,
                 const std::string& modelPath, const StoredInputs& inputs,
                 std::optional<std::int64_t> sweepId = std::nullopt);
// The same, recording the task's prompt format and rendered pieces.
NewRun newRunFor(const std::string& name, const TrainConfig& config, const CompressionTask& task,
                 const std::string& modelPath, const StoredInputs& inputs,
                 std::optional<std::int64_t> sweepId = std::nullopt);

// ---- during training ------------------------------------------------------------------------------
// A step's stored metric points under metric_key names; the held-out ones only on evaluation steps.
std::vector<std::pair<std::string, double>> stepMetrics(const StepReport& report);

// ---- after training --------------------------------------------------------------------------------
// One row per (query, condition), queries in order. σ's rows carry `sigmaStep`, the baselines 0.
// `queryIds`, when given, are the stored ids of the evaluated queries in the same order.
std::vector<StoredEvaluation> toStoredEvaluations(const Evaluation& evaluation, int sigmaStep,
                                                  const std::vector<std::int64_t>& queryIds = {});

// {"mean", "low", "high"} and an aggregate's {"s", "kl", "top1_agreement", "exact_match"}.
nlohmann::json intervalJson(const Interval& interval);
nlohmann::json aggregateJson(const ConditionAggregate& aggregate);
// Per condition key: its label, the held-out means ("heldout_s", "heldout_top1_agreement",
// "heldout_kl", "heldout_exact_match"; over the training queries when none is held out), and the
// intervals under "heldout" and "train".
nlohmann::json conditionsJson(const Evaluation& evaluation);

// The summary JSON stored with a run and printed by `softprompt train`:
//   status, steps, steps_requested, k, context_tokens, compression_ratio, objective, higher_is_better,
//   target, initial_s, final_s, train_seconds, model, device; error and bad_step when it failed;
//   with an evaluation: heldout_queries, train_queries, σ's heldout_s, heldout_top1_agreement,
//   heldout_kl, heldout_exact_match, "baselines" (the same means per other condition) and the
//   intervals per condition under "heldout" and "train".
nlohmann::json runSummary(const TrainConfig& config, const TrainResult& result, const ModelSummary& model,
                          int contextTokens, double trainSeconds, const Evaluation* evaluation);

// ---- reading back -----------------------------------------------------------------------------------
// Groups rows by query (first-seen order) and condition. Aggregates are left empty; rows of a
// condition this build does not know are skipped.
Evaluation fromStoredEvaluations(const std::vector<StoredEvaluation>& rows);
// The aggregates of a summary written by runSummary(); `split` is "heldout" or "train". Empty when
// the summary has none (a run stored by another tool, or an older version).
std::vector<ConditionAggregate> aggregatesFromSummary(const nlohmann::json& summary,
                                                      const std::string& split);
// Plain means over the per-query outcomes (no interval: low = high = mean), for runs whose summary
// lacks the aggregates.
std::vector<ConditionAggregate> meanAggregates(const Evaluation& evaluation, bool heldOut);

// The condition's aggregate or outcome, or nullptr.
const ConditionAggregate* findAggregate(const std::vector<ConditionAggregate>& aggregates,
                                        Condition condition);
const ConditionOutcome* findOutcome(const QueryEvaluation& query, Condition condition);

} // namespace sp
