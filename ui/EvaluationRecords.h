#pragma once
// Evaluations in both shapes: the engine's sp::Evaluation (per query, per condition) and the run
// store's flat StoredEvaluation rows, so the compare view shows a stored run exactly like a fresh one.
#include "softprompt/engine.h"
#include "softprompt/run_store.h"

#include <vector>

namespace spui {

std::vector<sp::StoredEvaluation> toStoredEvaluations(const sp::Evaluation& evaluation, int sigmaStep);
// Groups rows by query (first-seen order) and condition. Aggregates are left empty: the compare
// view only needs the per-query outcomes.
sp::Evaluation fromStoredEvaluations(const std::vector<sp::StoredEvaluation>& rows);

// The summary JSON stored with a run: initial/final s, held-out aggregates per condition
// ("heldout": {"sigma": {"s": .., "top1": .., ...}, ...}) and the compression ratio.
nlohmann::json evaluationSummary(const sp::Evaluation& evaluation, const sp::TrainResult& result,
                                 int contextTokens, int k);

// Aggregates read back from a summary written by evaluationSummary(); `split` is "heldout" or
// "train". Empty when the summary has none (a run stored by another tool).
std::vector<sp::ConditionAggregate> aggregatesFromSummary(const nlohmann::json& summary,
                                                          const std::string& split);
// Plain means over the per-query outcomes (no interval: low = high = mean), for runs whose
// summary lacks the aggregates.
std::vector<sp::ConditionAggregate> meanAggregates(const sp::Evaluation& evaluation, bool heldOut);

// The condition's aggregate in `aggregates`, or nullptr.
const sp::ConditionAggregate* findAggregate(const std::vector<sp::ConditionAggregate>& aggregates,
                                            sp::Condition condition);
const sp::ConditionOutcome* findOutcome(const sp::QueryEvaluation& query, sp::Condition condition);

} // namespace spui
