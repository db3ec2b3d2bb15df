#include "EvaluationRecords.h"

#include <map>

namespace spui {
namespace {

nlohmann::json intervalJson(const sp::Interval& interval)
{
    return {{"mean", interval.mean}, {"low", interval.low}, {"high", interval.high}};
}

std::optional<sp::Condition> conditionFromKey(const std::string& key)
{
    for (sp::Condition condition : sp::allConditions())
        if (sp::conditionKey(condition) == key)
            return condition;
    return std::nullopt;
}

} // namespace

std::vector<sp::StoredEvaluation> toStoredEvaluations(const sp::Evaluation& evaluation, int sigmaStep)
{
    std::vector<sp::StoredEvaluation> rows;
    for (const sp::QueryEvaluation& query : evaluation.queries) {
        for (const sp::ConditionOutcome& outcome : query.outcomes) {
            sp::StoredEvaluation row;
            row.query = query.query;
            row.target = query.target;
            row.heldOut = query.heldOut;
            row.condition = sp::conditionKey(outcome.condition);
            row.prediction = outcome.prediction;
            row.s = outcome.s;
            row.topK = outcome.topK;
            row.details = {{"kl", outcome.kl},
                           {"top1_agrees", outcome.top1Agrees},
                           {"teacher_nll", outcome.teacherNll},
                           {"exact_match", outcome.exactMatch},
                           {"prediction_ids", outcome.predictionIds},
                           {"per_token_divergence", outcome.perTokenDivergence}};
            row.sigmaStep = outcome.condition == sp::Condition::SoftPrompt ? sigmaStep : 0;
            rows.push_back(std::move(row));
        }
    }
    return rows;
}

sp::Evaluation fromStoredEvaluations(const std::vector<sp::StoredEvaluation>& rows)
{
    sp::Evaluation evaluation;
    std::map<std::pair<std::string, bool>, size_t> indexOfQuery;
    for (const sp::StoredEvaluation& row : rows) {
        const std::optional<sp::Condition> condition = conditionFromKey(row.condition);
        if (!condition)
            continue; // a condition this build does not know: skip rather than misplace it
        const auto key = std::make_pair(row.query, row.heldOut);
        auto found = indexOfQuery.find(key);
        if (found == indexOfQuery.end()) {
            sp::QueryEvaluation query;
            query.query = row.query;
            query.target = row.target;
            query.heldOut = row.heldOut;
            evaluation.queries.push_back(std::move(query));
            found = indexOfQuery.emplace(key, evaluation.queries.size() - 1).first;
        }
        sp::ConditionOutcome outcome;
        outcome.condition = *condition;
        outcome.prediction = row.prediction;
        outcome.s = row.s;
        outcome.topK = row.topK;
        const nlohmann::json& details = row.details;
        outcome.kl = details.value("kl", 0.0);
        outcome.top1Agrees = details.value("top1_agrees", false);
        outcome.teacherNll = details.value("teacher_nll", 0.0);
        outcome.exactMatch = details.value("exact_match", false);
        if (details.contains("prediction_ids") && details["prediction_ids"].is_array())
            outcome.predictionIds = details["prediction_ids"].get<std::vector<std::int32_t>>();
        if (details.contains("per_token_divergence") && details["per_token_divergence"].is_array())
            outcome.perTokenDivergence = details["per_token_divergence"].get<std::vector<double>>();
        evaluation.queries[found->second].outcomes.push_back(std::move(outcome));
    }
    return evaluation;
}

nlohmann::json evaluationSummary(const sp::Evaluation& evaluation, const sp::TrainResult& result,
                                 int contextTokens, int k)
{
    // The keys the CLI's `softprompt train` writes (so `softprompt runs show` reads GUI runs the same
    // way), plus the per-condition intervals under "heldout" and "train".
    nlohmann::json summary;
    summary["status"] = sp::runStatusKey(result.status);
    summary["initial_s"] = result.initialTrainS;
    summary["final_s"] = result.finalTrainS;
    summary["steps"] = result.stepsCompleted;
    summary["context_tokens"] = contextTokens;
    summary["k"] = k;
    summary["compression_ratio"] = k > 0 ? double(contextTokens) / k : 0.0;
    for (const auto& [name, aggregates] :
         {std::make_pair("heldout", &evaluation.heldout), std::make_pair("train", &evaluation.train)}) {
        nlohmann::json byCondition = nlohmann::json::object();
        for (const sp::ConditionAggregate& aggregate : *aggregates)
            byCondition[sp::conditionKey(aggregate.condition)] = {
                {"s", intervalJson(aggregate.s)},
                {"kl", intervalJson(aggregate.kl)},
                {"top1_agreement", intervalJson(aggregate.top1Agreement)},
                {"exact_match", intervalJson(aggregate.exactMatch)}};
        summary[name] = byCondition;
    }
    const auto& shown = evaluation.heldout.empty() ? evaluation.train : evaluation.heldout;
    nlohmann::json baselines = nlohmann::json::object();
    for (const sp::ConditionAggregate& aggregate : shown) {
        const nlohmann::json means = {{"heldout_s", aggregate.s.mean},
                                      {"heldout_top1_agreement", aggregate.top1Agreement.mean},
                                      {"heldout_kl", aggregate.kl.mean},
                                      {"heldout_exact_match", aggregate.exactMatch.mean}};
        if (aggregate.condition == sp::Condition::SoftPrompt)
            summary.update(means);
        else
            baselines[sp::conditionKey(aggregate.condition)] = means;
    }
    summary["baselines"] = baselines;
    return summary;
}

std::vector<sp::ConditionAggregate> aggregatesFromSummary(const nlohmann::json& summary,
                                                          const std::string& split)
{
    std::vector<sp::ConditionAggregate> aggregates;
    if (!summary.is_object() || !summary.contains(split) || !summary[split].is_object())
        return aggregates;
    const nlohmann::json& byCondition = summary[split];
    auto interval = [](const nlohmann::json& entry, const char* key) {
        sp::Interval result;
        if (entry.contains(key) && entry[key].is_object()) {
            result.mean = entry[key].value("mean", 0.0);
            result.low = entry[key].value("low", result.mean);
            result.high = entry[key].value("high", result.mean);
        }
        return result;
    };
    for (sp::Condition condition : sp::allConditions()) {
        const std::string key = sp::conditionKey(condition);
        if (!byCondition.contains(key) || !byCondition[key].is_object())
            continue;
        const nlohmann::json& entry = byCondition[key];
        sp::ConditionAggregate aggregate;
        aggregate.condition = condition;
        aggregate.s = interval(entry, "s");
        aggregate.kl = interval(entry, "kl");
        aggregate.top1Agreement = interval(entry, "top1_agreement");
        aggregate.exactMatch = interval(entry, "exact_match");
        aggregates.push_back(aggregate);
    }
    return aggregates;
}

std::vector<sp::ConditionAggregate> meanAggregates(const sp::Evaluation& evaluation, bool heldOut)
{
    std::vector<sp::ConditionAggregate> aggregates;
    for (sp::Condition condition : sp::allConditions()) {
        double s = 0, kl = 0, top1 = 0, exact = 0;
        int count = 0;
        for (const sp::QueryEvaluation& query : evaluation.queries) {
            if (query.heldOut != heldOut)
                continue;
            if (const sp::ConditionOutcome* outcome = findOutcome(query, condition)) {
                s += outcome->s;
                kl += outcome->kl;
                top1 += outcome->top1Agrees ? 1.0 : 0.0;
                exact += outcome->exactMatch ? 1.0 : 0.0;
                ++count;
            }
        }
        if (count == 0)
            continue;
        auto point = [count](double sum) { return sp::Interval{sum / count, sum / count, sum / count}; };
        sp::ConditionAggregate aggregate;
        aggregate.condition = condition;
        aggregate.s = point(s);
        aggregate.kl = point(kl);
        aggregate.top1Agreement = point(top1);
        aggregate.exactMatch = point(exact);
        aggregates.push_back(aggregate);
    }
    return aggregates;
}

const sp::ConditionAggregate* findAggregate(const std::vector<sp::ConditionAggregate>& aggregates,
                                            sp::Condition condition)
{
    for (const sp::ConditionAggregate& aggregate : aggregates)
        if (aggregate.condition == condition)
            return &aggregate;
    return nullptr;
}

const sp::ConditionOutcome* findOutcome(const sp::QueryEvaluation& query, sp::Condition condition)
{
    for (const sp::ConditionOutcome& outcome : query.outcomes)
        if (outcome.condition == condition)
            return &outcome;
    return nullptr;
}

} // namespace spui
