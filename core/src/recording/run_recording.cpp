// Run records shared by the CLI and the GUI: what they store while and after a run trains, and how a
// stored run reads back.
#include "softprompt/run_recording.h"
#include "softprompt/prompt_pieces_json.h"
#include "softprompt/train_config_json.h"

#include <algorithm>
#include <map>

namespace sp {

namespace {

std::optional<Condition> conditionFromKey(const std::string& key)
{
    for (Condition condition : allConditions())
        if (conditionKey(condition) == key)
            return condition;
    return std::nullopt;
}

// The means shown for one condition: held-out, or over the training queries when none is held out.
nlohmann::json conditionMeans(const ConditionAggregate& aggregate)
{
    return {{"heldout_s", aggregate.s.mean},
            {"heldout_top1_agreement", aggregate.top1Agreement.mean},
            {"heldout_kl", aggregate.kl.mean},
            {"heldout_exact_match", aggregate.exactMatch.mean}};
}

nlohmann::json aggregatesByCondition(const std::vector<ConditionAggregate>& aggregates)
{
    nlohmann::json byCondition = nlohmann::json::object();
    for (const ConditionAggregate& aggregate : aggregates)
        byCondition[conditionKey(aggregate.condition)] = aggregateJson(aggregate);
    return byCondition;
}

} // namespace

// ---- before training -----------------------------------------------------------------------------

std::vector<StoredQuery> storedQueries(const std::vector<Query>& queries, const std::vector<bool>& heldOut)
{
    std::vector<StoredQuery> stored;
    for (std::size_t i = 0; i < queries.size(); ++i) {
        StoredQuery query;
        query.text = queries[i].text;
        query.target = queries[i].target;
        query.heldOut = i < heldOut.size() ? bool(heldOut[i]) : queries[i].heldOut;
        stored.push_back(std::move(query));
    }
    return stored;
}

StoredInputs storeTaskInputs(RunStore& store, const CompressionTask& task, const TrainConfig& config,
                             const std::string& querySetName)
{
    StoredInputs inputs;
    inputs.contextId = store.putContext(task.context());
    store.setContextTokenCount(inputs.contextId, task.model().summary().identity, task.contextTokenCount());
    inputs.querySetId =
        store.putQuerySet(querySetName, storedQueries(task.queries(), task.heldoutMask(config)));
    return inputs;
}

NewRun newRunFor(const std::string& name, const TrainConfig& config, const ModelSummary& model,
                 const std::string& modelPath, const StoredInputs& inputs,
                 std::optional<std::int64_t> sweepId)
{
    NewRun run;
    run.name = name;
    run.config = trainConfigToJson(config);
    run.model = modelIdentityOf(model);
    if (!modelPath.empty())
        run.model.path = modelPath;
    run.device = model.device;
    run.contextId = inputs.contextId;
    run.querySetId = inputs.querySetId;
    run.sweepId = sweepId;
    return run;
}

NewRun newRunFor(const std::string& name, const TrainConfig& config, const CompressionTask& task,
                 const std::string& modelPath, const StoredInputs& inputs, std::optional<std::int64_t> sweepId)
{
    NewRun run = newRunFor(name, config, task.model().summary(), modelPath, inputs, sweepId);
    run.promptFormat = promptFormatKey(task.promptPieces().format);
    run.promptPieces = promptPiecesToJson(task.promptPieces());
    return run;
}

// ---- during training ------------------------------------------------------------------------------

std::vector<std::pair<std::string, double>> stepMetrics(const StepReport& report)
{
    std::vector<std::pair<std::string, double>> values{{metric_key::TrainS, report.trainS},
                                                       {metric_key::TrainTop1, report.trainTop1},
                                                       {metric_key::LearningRate, report.learningRate},
                                                       {metric_key::GradNorm, report.gradNorm},
                                                       {metric_key::StepSeconds, report.stepSeconds},
                                                       {metric_key::TokensPerSecond, report.tokensPerSecond}};
    if (report.hasHeldout) {
        values.emplace_back(metric_key::HeldoutS, report.heldoutS);
        values.emplace_back(metric_key::HeldoutTop1, report.heldoutTop1);
    }
    return values;
}

// ---- after training --------------------------------------------------------------------------------

std::vector<StoredEvaluation> toStoredEvaluations(const Evaluation& evaluation, int sigmaStep,
                                                  const std::vector<std::int64_t>& queryIds)
{
    std::vector<StoredEvaluation> rows;
    for (std::size_t q = 0; q < evaluation.queries.size(); ++q) {
        const QueryEvaluation& query = evaluation.queries[q];
        for (const ConditionOutcome& outcome : query.outcomes) {
            StoredEvaluation row;
            if (q < queryIds.size())
                row.queryId = queryIds[q];
            row.query = query.query;
            row.target = query.target;
            row.heldOut = query.heldOut;
            row.condition = conditionKey(outcome.condition);
            row.prediction = outcome.prediction;
            row.s = outcome.s;
            row.topK = outcome.topK;
            row.details = {{"kl", outcome.kl},
                           {"top1_agrees", outcome.top1Agrees},
                           {"teacher_nll", outcome.teacherNll},
                           {"exact_match", outcome.exactMatch},
                           {"prediction_ids", outcome.predictionIds},
                           {"per_token_divergence", outcome.perTokenDivergence}};
            row.sigmaStep = outcome.condition == Condition::SoftPrompt ? sigmaStep : 0;
            rows.push_back(std::move(row));
        }
    }
    return rows;
}

nlohmann::json intervalJson(const Interval& interval)
{
    return {{"mean", interval.mean}, {"low", interval.low}, {"high", interval.high}};
}

nlohmann::json aggregateJson(const ConditionAggregate& aggregate)
{
    return {{"s", intervalJson(aggregate.s)},
            {"kl", intervalJson(aggregate.kl)},
            {"top1_agreement", intervalJson(aggregate.top1Agreement)},
            {"exact_match", intervalJson(aggregate.exactMatch)}};
}

nlohmann::json conditionsJson(const Evaluation& evaluation)
{
    const auto& shown = evaluation.heldout.empty() ? evaluation.train : evaluation.heldout;
    nlohmann::json conditions = nlohmann::json::object();
    for (const ConditionAggregate& aggregate : shown) {
        nlohmann::json entry = conditionMeans(aggregate);
        entry["label"] = conditionLabel(aggregate.condition);
        entry["heldout"] = aggregateJson(aggregate);
        if (const ConditionAggregate* train = findAggregate(evaluation.train, aggregate.condition))
            entry["train"] = aggregateJson(*train);
        conditions[conditionKey(aggregate.condition)] = entry;
    }
    return conditions;
}

nlohmann::json runSummary(const TrainConfig& config, const TrainResult& result, const ModelSummary& model,
                          int contextTokens, double trainSeconds, const Evaluation* evaluation)
{
    const ObjectiveInfo& objective = objectiveInfo(config.objective);
    nlohmann::json summary{
        {"status", runStatusKey(result.status)},
        {"steps", result.stepsCompleted},
        {"steps_requested", config.steps},
        {"k", config.k},
        {"context_tokens", contextTokens},
        {"compression_ratio", config.k > 0 ? double(contextTokens) / double(config.k) : 0.0},
        {"objective", objective.key},
        {"higher_is_better", objective.higherIsBetter},
        {"target", targetKindKey(config.target)},
        {"initial_s", result.initialTrainS},
        {"final_s", result.finalTrainS},
        {"train_seconds", trainSeconds},
        {"model", model.name},
        {"device", model.device}};
    if (result.status == RunStatus::Failed) {
        summary["error"] = result.error;
        summary["bad_step"] = result.badStep;
    }
    if (!evaluation)
        return summary;

    const auto heldout = std::count_if(evaluation->queries.begin(), evaluation->queries.end(),
                                       [](const QueryEvaluation& query) { return query.heldOut; });
    summary["heldout_queries"] = heldout;
    summary["train_queries"] = std::int64_t(evaluation->queries.size()) - heldout;
    const auto& shown = evaluation->heldout.empty() ? evaluation->train : evaluation->heldout;
    nlohmann::json baselines = nlohmann::json::object();
    for (const ConditionAggregate& aggregate : shown) {
        if (aggregate.condition == Condition::SoftPrompt)
            summary.update(conditionMeans(aggregate));
        else
            baselines[conditionKey(aggregate.condition)] = conditionMeans(aggregate);
    }
    summary["baselines"] = baselines;
    summary["heldout"] = aggregatesByCondition(evaluation->heldout);
    summary["train"] = aggregatesByCondition(evaluation->train);
    return summary;
}

// ---- reading back -----------------------------------------------------------------------------------

Evaluation fromStoredEvaluations(const std::vector<StoredEvaluation>& rows)
{
    Evaluation evaluation;
    std::map<std::pair<std::string, bool>, std::size_t> indexOfQuery;
    for (const StoredEvaluation& row : rows) {
        const std::optional<Condition> condition = conditionFromKey(row.condition);
        if (!condition)
            continue; // a condition this build does not know: skip rather than misplace it
        const auto key = std::make_pair(row.query, row.heldOut);
        auto found = indexOfQuery.find(key);
        if (found == indexOfQuery.end()) {
            QueryEvaluation query;
            query.query = row.query;
            query.target = row.target;
            query.heldOut = row.heldOut;
            evaluation.queries.push_back(std::move(query));
            found = indexOfQuery.emplace(key, evaluation.queries.size() - 1).first;
        }
        ConditionOutcome outcome;
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

std::vector<ConditionAggregate> aggregatesFromSummary(const nlohmann::json& summary, const std::string& split)
{
    std::vector<ConditionAggregate> aggregates;
    if (!summary.is_object() || !summary.contains(split) || !summary[split].is_object())
        return aggregates;
    const nlohmann::json& byCondition = summary[split];
    auto interval = [](const nlohmann::json& entry, const char* key) {
        Interval result;
        if (entry.contains(key) && entry[key].is_object()) {
            result.mean = entry[key].value("mean", 0.0);
            result.low = entry[key].value("low", result.mean);
            result.high = entry[key].value("high", result.mean);
        }
        return result;
    };
    for (Condition condition : allConditions()) {
        const std::string key = conditionKey(condition);
        if (!byCondition.contains(key) || !byCondition[key].is_object())
            continue;
        const nlohmann::json& entry = byCondition[key];
        ConditionAggregate aggregate;
        aggregate.condition = condition;
        aggregate.s = interval(entry, "s");
        aggregate.kl = interval(entry, "kl");
        aggregate.top1Agreement = interval(entry, "top1_agreement");
        aggregate.exactMatch = interval(entry, "exact_match");
        aggregates.push_back(aggregate);
    }
    return aggregates;
}

std::vector<ConditionAggregate> meanAggregates(const Evaluation& evaluation, bool heldOut)
{
    std::vector<ConditionAggregate> aggregates;
    for (Condition condition : allConditions()) {
        double s = 0, kl = 0, top1 = 0, exact = 0;
        int count = 0;
        for (const QueryEvaluation& query : evaluation.queries) {
            if (query.heldOut != heldOut)
                continue;
            if (const ConditionOutcome* outcome = findOutcome(query, condition)) {
                s += outcome->s;
                kl += outcome->kl;
                top1 += outcome->top1Agrees ? 1.0 : 0.0;
                exact += outcome->exactMatch ? 1.0 : 0.0;
                ++count;
            }
        }
        if (count == 0)
            continue;
        auto point = [count](double sum) { return Interval{sum / count, sum / count, sum / count}; };
        ConditionAggregate aggregate;
        aggregate.condition = condition;
        aggregate.s = point(s);
        aggregate.kl = point(kl);
        aggregate.top1Agreement = point(top1);
        aggregate.exactMatch = point(exact);
        aggregates.push_back(aggregate);
    }
    return aggregates;
}

const ConditionAggregate* findAggregate(const std::vector<ConditionAggregate>& aggregates,
                                        Condition condition)
{
    for (const ConditionAggregate& aggregate : aggregates)
        if (aggregate.condition == condition)
            return &aggregate;
    return nullptr;
}

const ConditionOutcome* findOutcome(const QueryEvaluation& query, Condition condition)
{
    for (const ConditionOutcome& outcome : query.outcomes)
        if (outcome.condition == condition)
            return &outcome;
    return nullptr;
}

} // namespace sp
