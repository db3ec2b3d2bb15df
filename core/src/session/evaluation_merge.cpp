// σ evaluated alone, merged into the baselines evaluated before training: the baselines do not
// depend on σ, so they are evaluated once per run (and shown while σ trains).
#include "softprompt/training_session.h"

#include <algorithm>

namespace sp {

namespace {

template <typename T> void sortByCondition(std::vector<T>& items)
{
    std::stable_sort(items.begin(), items.end(),
                     [](const T& a, const T& b) { return int(a.condition) < int(b.condition); });
}

void addSigmaAggregates(std::vector<ConditionAggregate>& into, const std::vector<ConditionAggregate>& from)
{
    for (const ConditionAggregate& aggregate : from)
        if (aggregate.condition == Condition::SoftPrompt)
            into.push_back(aggregate);
    sortByCondition(into);
}

} // namespace

bool mergeEvaluations(const Evaluation& baselines, const Evaluation& sigma, Evaluation* merged)
{
    if (baselines.queries.size() != sigma.queries.size())
        return false;
    Evaluation result = baselines;
    for (std::size_t i = 0; i < sigma.queries.size(); ++i) {
        QueryEvaluation& query = result.queries[i];
        if (query.query != sigma.queries[i].query || query.heldOut != sigma.queries[i].heldOut)
            return false;
        for (const ConditionOutcome& outcome : sigma.queries[i].outcomes)
            if (outcome.condition == Condition::SoftPrompt)
                query.outcomes.push_back(outcome);
        sortByCondition(query.outcomes);
    }
    addSigmaAggregates(result.heldout, sigma.heldout);
    addSigmaAggregates(result.train, sigma.train);
    *merged = std::move(result);
    return true;
}

} // namespace sp
