// The engine's torch-free vocabulary: objective/target/init/condition tables, TrainConfig JSON and
// the JSONL query format. The GUI links against these without touching torch.
#include "softprompt/engine.h"
#include "softprompt/train_config_json.h"

#include "softprompt/error.h"
#include "softprompt/paths.h"
#include "softprompt/text.h"

#include <cmath>
#include <fstream>
#include <sstream>

namespace sp {

namespace {

std::string listKeys(const std::vector<std::string>& keys)
{
    return joinStrings(keys, ", ");
}

} // namespace

const std::vector<ObjectiveInfo>& allObjectives()
{
    static const std::vector<ObjectiveInfo> objectives = {
        {Objective::ForwardKL, "kl", "Forward KL(P_c ‖ P_σ)", false,
         "Kullback–Leibler divergence from the full-context distribution to the σ distribution: "
         "mass-covering, penalises σ for missing anything the teacher considers likely."},
        {Objective::ReverseKL, "rkl", "Reverse KL(P_σ ‖ P_c)", false,
         "KL divergence from the σ distribution to the teacher's: mode-seeking, penalises σ for "
         "putting mass where the teacher puts little."},
        {Objective::JensenShannon, "js", "Jensen–Shannon", false,
         "Symmetric, bounded (by ln 2) divergence between the two distributions."},
        {Objective::TeacherNLL, "nll", "NLL of the teacher's ŷ", false,
         "Negative log-likelihood, under σ, of the tokens the teacher predicts greedily "
         "(sequence-level distillation)."},
        {Objective::LogitMSE, "mse", "Logit MSE", false,
         "Mean squared error between the raw logits (over the teacher's kept tokens when the teacher "
         "distribution is truncated)."},
        {Objective::Cosine, "cosine", "Cosine similarity", true,
         "Cosine similarity between the two probability vectors; a similarity, so it is maximised."},
    };
    return objectives;
}

const ObjectiveInfo& objectiveInfo(Objective objective)
{
    for (const ObjectiveInfo& info : allObjectives())
        if (info.objective == objective)
            return info;
    throw Error("unknown objective id " + std::to_string(int(objective)));
}

Objective objectiveFromKey(const std::string& key)
{
    std::vector<std::string> keys;
    for (const ObjectiveInfo& info : allObjectives()) {
        if (info.key == key)
            return info.objective;
        keys.push_back(info.key);
    }
    throw Error("unknown objective '" + key + "'; use one of: " + listKeys(keys));
}

std::string targetKindKey(TargetKind kind)
{
    return kind == TargetKind::NextToken ? "next" : "continuation";
}

TargetKind targetKindFromKey(const std::string& key)
{
    if (key == "next")
        return TargetKind::NextToken;
    if (key == "continuation")
        return TargetKind::Continuation;
    throw Error("unknown target '" + key + "'; use next or continuation");
}

std::string initKindKey(InitKind kind)
{
    switch (kind) {
    case InitKind::Random:
        return "random";
    case InitKind::Vocabulary:
        return "vocab";
    case InitKind::Text:
        return "text";
    case InitKind::ChunkMeans:
        return "chunks";
    }
    return "text";
}

InitKind initKindFromKey(const std::string& key)
{
    for (InitKind kind : {InitKind::Random, InitKind::Vocabulary, InitKind::Text, InitKind::ChunkMeans})
        if (initKindKey(kind) == key)
            return kind;
    throw Error("unknown initialisation '" + key + "'; use one of: random, vocab, text, chunks");
}

std::string conditionKey(Condition condition)
{
    switch (condition) {
    case Condition::FullContext:
        return "full";
    case Condition::SoftPrompt:
        return "sigma";
    case Condition::NoContext:
        return "none";
    case Condition::FirstK:
        return "first_k";
    case Condition::LastK:
        return "last_k";
    case Condition::PrunedHardPrompt:
        return "pruned";
    }
    return "full";
}

std::string conditionLabel(Condition condition)
{
    switch (condition) {
    case Condition::FullContext:
        return "Full context";
    case Condition::SoftPrompt:
        return "σ";
    case Condition::NoContext:
        return "No context";
    case Condition::FirstK:
        return "First k tokens";
    case Condition::LastK:
        return "Last k tokens";
    case Condition::PrunedHardPrompt:
        return "Pruned hard prompt";
    }
    return "Full context";
}

const std::vector<Condition>& allConditions()
{
    static const std::vector<Condition> conditions = {Condition::FullContext, Condition::SoftPrompt,
                                                      Condition::NoContext,   Condition::FirstK,
                                                      Condition::LastK,       Condition::PrunedHardPrompt};
    return conditions;
}

// ---- TrainConfig JSON -------------------------------------------------------------------------

nlohmann::json trainConfigToJson(const TrainConfig& config)
{
    return nlohmann::json{
        {"k", config.k},
        {"objective", objectiveInfo(config.objective).key},
        {"temperature", config.temperature},
        {"target", targetKindKey(config.target)},
        {"continuation_length", config.continuationLength},
        {"init", initKindKey(config.init)},
        {"init_text", config.initText},
        {"optimizer", config.optimizer},
        {"learning_rate", config.learningRate},
        {"weight_decay", config.weightDecay},
        {"steps", config.steps},
        {"warmup_steps", config.warmupSteps},
        {"batch_size", config.batchSize},
        {"grad_clip", config.gradClip},
        {"eval_interval", config.evalInterval},
        {"early_stop_patience", config.earlyStopPatience},
        {"checkpoint_interval", config.checkpointInterval},
        {"teacher_top_k", config.teacherTopK},
        {"teacher_full_vocabulary", config.teacherFullVocabulary},
        {"heldout_fraction", config.heldoutFraction},
        {"seed", config.seed},
        {"device", config.device},
        {"dtype", config.dtype},
    };
}

namespace {

template <typename T> void readField(const nlohmann::json& json, const char* key, T& field)
{
    const auto found = json.find(key);
    if (found == json.end() || found->is_null())
        return;
    try {
        field = found->get<T>();
    } catch (const nlohmann::json::exception&) {
        throw Error(std::string("training settings: \"") + key + "\" has the wrong type (" +
                    found->type_name() + "); fix or remove it");
    }
}

} // namespace

TrainConfig trainConfigFromJson(const nlohmann::json& json)
{
    if (!json.is_object())
        throw Error(std::string("training settings must be a JSON object, not ") + json.type_name());
    TrainConfig config;
    readField(json, "k", config.k);
    std::string key;
    if (readField(json, "objective", key), !key.empty())
        config.objective = objectiveFromKey(key);
    readField(json, "temperature", config.temperature);
    key.clear();
    if (readField(json, "target", key), !key.empty())
        config.target = targetKindFromKey(key);
    readField(json, "continuation_length", config.continuationLength);
    key.clear();
    if (readField(json, "init", key), !key.empty())
        config.init = initKindFromKey(key);
    readField(json, "init_text", config.initText);
    readField(json, "optimizer", config.optimizer);
    readField(json, "learning_rate", config.learningRate);
    readField(json, "weight_decay", config.weightDecay);
    readField(json, "steps", config.steps);
    readField(json, "warmup_steps", config.warmupSteps);
    readField(json, "batch_size", config.batchSize);
    readField(json, "grad_clip", config.gradClip);
    readField(json, "eval_interval", config.evalInterval);
    readField(json, "early_stop_patience", config.earlyStopPatience);
    readField(json, "checkpoint_interval", config.checkpointInterval);
    readField(json, "teacher_top_k", config.teacherTopK);
    readField(json, "teacher_full_vocabulary", config.teacherFullVocabulary);
    readField(json, "heldout_fraction", config.heldoutFraction);
    readField(json, "seed", config.seed);
    readField(json, "device", config.device);
    readField(json, "dtype", config.dtype);
    return config;
}

// ---- queries ----------------------------------------------------------------------------------

std::vector<Query> readQueriesJsonl(const std::string& path, bool heldOut)
{
    const std::string text = readTextFile(path);
    std::vector<Query> queries;
    std::istringstream lines(text);
    std::string line;
    int lineNumber = 0;
    while (std::getline(lines, line)) {
        ++lineNumber;
        if (lineNumber == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0)
            line.erase(0, 3); // a UTF-8 byte-order mark
        if (trimWhitespace(line).empty())
            continue;
        const std::string where = path + ":" + std::to_string(lineNumber);
        nlohmann::json object;
        try {
            object = nlohmann::json::parse(line);
        } catch (const nlohmann::json::parse_error& error) {
            throw Error(where + ": not valid JSON (" + error.what() +
                        "); each line must be {\"query\": \"...\", \"target\": \"...\"}");
        }
        if (!object.is_object())
            throw Error(where + ": expected a JSON object such as {\"query\": \"...\"}, got " +
                        object.type_name());
        const auto queryField = object.find("query");
        if (queryField == object.end() || !queryField->is_string())
            throw Error(where + ": needs a \"query\" string");
        Query query;
        query.text = queryField->get<std::string>();
        if (trimWhitespace(query.text).empty())
            throw Error(where + ": the query is empty; remove the line or write a query");
        const auto targetField = object.find("target");
        if (targetField != object.end() && !targetField->is_null()) {
            if (!targetField->is_string())
                throw Error(where + ": \"target\" must be a string when present");
            query.target = targetField->get<std::string>();
        }
        query.heldOut = heldOut;
        queries.push_back(std::move(query));
    }
    if (queries.empty())
        throw Error(fileError(path, "holds no queries; write one {\"query\": \"...\"} object per line"));
    return queries;
}

void writeQueriesJsonl(const std::string& path, const std::vector<Query>& queries)
{
    std::string text;
    for (const Query& query : queries) {
        nlohmann::json object{{"query", query.text}};
        if (!query.target.empty())
            object["target"] = query.target;
        text += object.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    }
    writeTextFile(path, text);
}

} // namespace sp
