// Generation, plain or under a condition (the playground's CLI):
//   softprompt generate --model PATH|demo --prompt "..." [--max-new N]
//       greedy continuation of the text (BOS added as the tokenizer says)
//   softprompt generate --run ID [--db PATH] --prompt "..." [--condition sigma|full|none|all]
//       σ from a stored run, with the run's model and context
//   softprompt generate --model PATH|demo --sigma FILE.safetensors [--context FILE] --prompt "..."
//   [--sample --temperature T --top-p P --seed S] [--top-k K] [--json]
// Text output streams the tokens as they are generated; --json prints one object at the end with
// every token's top-k probabilities.
#include "cli_common.h"
#include "registry.h"

#include "softprompt/error.h"
#include "softprompt/paths.h"
#include "softprompt/playground.h"
#include "softprompt/run_store.h"

#include <iostream>

namespace {

struct GenerateOptions {
    std::string model;
    std::string device = "cpu";
    std::string dtype = "float32";
    std::string prompt;
    int maxNew = 32;
    std::int64_t runId = 0;
    std::string db;
    std::string sigmaPath;
    std::string contextPath;
    std::string condition;
    std::string format; // "" = the run's format with --run, else auto
    bool json = false;
    sp::SamplingSettings sampling;
};

std::vector<sp::Condition> conditionsFromKey(const std::string& key)
{
    if (key == "all")
        return sp::playgroundConditions();
    for (sp::Condition condition : sp::playgroundConditions())
        if (sp::conditionKey(condition) == key)
            return {condition};
    throw sp::Error("unknown --condition '" + key + "'; use sigma, full, none or all");
}

nlohmann::json generationJson(const sp::Generation& generation)
{
    nlohmann::json tokens = nlohmann::json::array();
    for (const sp::GeneratedToken& token : generation.tokens) {
        nlohmann::json top = nlohmann::json::array();
        for (const sp::TokenProbability& candidate : token.topK)
            top.push_back({{"id", candidate.id}, {"text", candidate.text}, {"probability", candidate.probability}});
        tokens.push_back({{"id", token.id}, {"text", token.text}, {"probability", token.probability}, {"special", token.special}, {"top_k", top}});
    }
    return {{"condition", sp::conditionKey(generation.condition)},
            {"text", generation.text},
            {"prompt_tokens", generation.promptTokens},
            {"end_of_text", generation.endOfText},
            {"tokens", tokens}};
}

void runPlainGenerate(const GenerateOptions& options)
{
    sp::ModelLoadOptions load;
    load.device = options.device;
    load.dtype = options.dtype;
    const sp::ModelHandle model = sp::ModelHandle::load(options.model, load);
    std::cout << model.generate(options.prompt, options.maxNew) << std::endl;
}

void runConditionedGenerate(const GenerateOptions& options)
{
    sp::ModelLoadOptions load;
    load.device = options.device;
    load.dtype = options.dtype;
    std::string context;
    sp::SoftPrompt sigma;
    std::string format = options.format.empty() ? "auto" : options.format;
    std::string modelSource = options.model;
    nlohmann::json source;
    sp::ModelHandle model;
    if (options.runId > 0) {
        if (!options.sigmaPath.empty())
            throw sp::Error("give either --run or --sigma, not both");
        const sp::RunStore store = spcli::openExistingStore(options.db);
        const sp::RunRecord record = store.run(options.runId);
        sigma = store.loadSigma(options.runId);
        if (options.format.empty())
            format = record.promptFormat; // σ answers in the layout it was trained in
        if (record.contextId)
            context = store.context(*record.contextId).text;
        if (modelSource.empty())
            modelSource = record.model.path;
        model = sp::ModelHandle::load(modelSource, load);
        if (!record.model.hash.empty() && model.summary().identity != record.model.hash)
            throw sp::Error("the model at " + modelSource + " is not the one run " + std::to_string(options.runId) +
                            " was trained on (identity " + model.summary().identity.substr(0, 12) + " ≠ " +
                            record.model.hash.substr(0, 12) + "); σ only fits the original model");
        source = {{"run_id", options.runId}, {"db", store.path()}};
        if (!options.contextPath.empty())
            context = sp::readTextFile(options.contextPath);
    } else {
        if (options.sigmaPath.empty() && options.contextPath.empty())
            throw sp::Error("nothing to condition on; give --run ID, --sigma FILE or --context FILE");
        if (modelSource.empty())
            throw sp::Error("--sigma and --context need --model PATH|demo (the model σ was trained for)");
        if (!options.sigmaPath.empty())
            sigma = sp::softPromptFromSafetensors(sp::readTextFile(options.sigmaPath), options.sigmaPath);
        if (!options.contextPath.empty())
            context = sp::readTextFile(options.contextPath);
        model = sp::ModelHandle::load(modelSource, load);
        source = {{"sigma", options.sigmaPath}, {"context", options.contextPath}};
    }

    std::string conditionKey = options.condition;
    if (conditionKey.empty())
        conditionKey = sigma.empty() ? "full" : "sigma";
    const std::vector<sp::Condition> conditions = conditionsFromKey(conditionKey);
    sp::Playground playground(model, context, sp::promptFormatFromKey(format));
    if (!sigma.empty())
        playground.setSigma(sigma);

    sp::SamplingSettings sampling = options.sampling;
    sampling.maxNewTokens = options.maxNew;
    nlohmann::json results = nlohmann::json::object();
    for (sp::Condition condition : conditions) {
        if (!options.json && conditions.size() > 1)
            std::cout << "── " << sp::conditionLabel(condition) << " ──\n";
        const sp::TokenCallback stream = [&](const sp::GeneratedToken& token) {
            if (!options.json && !token.special)
                std::cout << token.text << std::flush;
        };
        const sp::Generation generation = playground.generate(condition, {}, options.prompt, sampling, stream);
        if (!options.json)
            std::cout << std::endl;
        results[sp::conditionKey(condition)] = generationJson(generation);
    }
    if (options.json) {
        nlohmann::json output = source;
        output["model"] = model.summary().name;
        output["prompt"] = options.prompt;
        output["sample"] = sampling.sample;
        output["temperature"] = sampling.temperature;
        output["top_p"] = sampling.topP;
        output["seed"] = sampling.seed;
        output["k"] = sigma.k;
        output["context_tokens"] = playground.contextTokenCount();
        output["format"] = sp::promptFormatKey(playground.promptPieces().format);
        output["conditions"] = results;
        spcli::printJson(output);
    }
}

void runGenerate(const GenerateOptions& options)
{
    if (options.maxNew < 1)
        throw sp::Error("--max-new must be at least 1 (got " + std::to_string(options.maxNew) + ")");
    const bool conditioned = options.runId > 0 || !options.sigmaPath.empty() || !options.contextPath.empty();
    if (!conditioned) {
        if (options.model.empty())
            throw sp::Error("give --model PATH|demo (or --run ID to ask a stored run's σ)");
        if (options.json || !options.condition.empty() || options.sampling.sample)
            throw sp::Error("--json, --condition and --sample need a condition: give --run ID, --sigma FILE or "
                            "--context FILE");
        runPlainGenerate(options);
        return;
    }
    runConditionedGenerate(options);
}

void registerGenerateCommand(CLI::App& app)
{
    auto options = std::make_shared<GenerateOptions>();
    CLI::App* command = app.add_subcommand(
        "generate", "Continue a prompt, or answer it under the full context, a stored run's σ or no context");
    command->add_option("--model", options->model,
                        "A Hugging Face model folder, or \"demo\" (default with --run: the run's model)");
    command->add_option("--device", options->device, "cpu, cuda or cuda:N")->capture_default_str();
    command->add_option("--dtype", options->dtype, "float32, float16 or bfloat16 (half types need CUDA)")
        ->capture_default_str();
    command->add_option("--prompt", options->prompt, "The text to continue, or the question to ask")->required();
    command->add_option("--max-new", options->maxNew, "Most new tokens")->capture_default_str();
    command->add_option("--run", options->runId, "Ask the σ of this stored run (softprompt runs list)");
    command->add_option("--db", options->db, "Run database (default: the per-user runs.sqlite)");
    command->add_option("--sigma", options->sigmaPath, "Ask this σ (safetensors, prompt_embeddings [k, d])");
    command->add_option("--context", options->contextPath,
                        "The context for --condition full (default with --run: the run's context)");
    command->add_option("--format", options->format,
                        "auto, plain or chat: how the question goes into the prompt (default with --run: the "
                        "run's format; else auto, the model's chat template when it has one)");
    command->add_option("--condition", options->condition,
                        "sigma, full, none or all (default: sigma when there is one, else full)");
    command->add_flag("--sample", options->sampling.sample, "Sample instead of greedy decoding");
    command->add_option("--temperature", options->sampling.temperature, "Sampling temperature")
        ->capture_default_str();
    command->add_option("--top-p", options->sampling.topP, "Nucleus sampling mass in (0, 1]")
        ->capture_default_str();
    command->add_option("--seed", options->sampling.seed, "Sampling seed (same seed, same tokens)")
        ->capture_default_str();
    command->add_option("--top-k", options->sampling.topK, "Probabilities reported per token with --json")
        ->capture_default_str();
    command->add_flag("--json", options->json, "Print one JSON object with every token's top-k");
    command->callback([=] { runGenerate(*options); });
}

} // namespace

SP_REGISTER_CLI_COMMANDS(31, registerGenerateCommand);
