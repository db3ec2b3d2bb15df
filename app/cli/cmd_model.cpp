// The model commands (generate lives in cmd_generate.cpp):
//   softprompt score    --model PATH|demo --text "..." [--top-k 5] [--json]
//   softprompt forward  --model PATH --ids 1,2,3 --out FILE.safetensors
//   softprompt bench model (--model PATH|demo | --random PRESET) [--dtype D] [--prefill N] [--decode N]
//                          [--repeats N] [--sigma-steps N --k K --batch B]
#include "cli_common.h"
#include "registry.h"

#include "softprompt/engine.h"
#include "softprompt/benchmarks.h"
#include "softprompt/error.h"
#include "softprompt/model_handle.h"
#include "softprompt/safetensors.h"
#include "softprompt/text.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <limits>

#include <unistd.h>

namespace {

namespace fs = std::filesystem;

struct ModelOptions {
    std::string model;
    std::string device = "cpu";
    std::string dtype = "float32";
    std::string halfCompute = "auto";
};

void addModelOptions(CLI::App& command, ModelOptions& options, bool required = true)
{
    CLI::Option* model = command.add_option("--model", options.model,
                                            "A Hugging Face model folder, or \"demo\" for the bundled model");
    if (required)
        model->required();
    command.add_option("--device", options.device, "cpu, cuda or cuda:N")->capture_default_str();
    command.add_option("--dtype", options.dtype, "float32, float16 or bfloat16: the weights in memory")
        ->capture_default_str();
    command
        .add_option("--half-compute", options.halfCompute,
                    "For float16/bfloat16 weights: auto (native on CUDA, float32 on the CPU), native, or float32 "
                    "(each matrix converted as it is used)")
        ->capture_default_str();
}

sp::ModelHandle loadModel(const ModelOptions& options)
{
    sp::ModelLoadOptions load;
    load.device = options.device;
    load.dtype = options.dtype;
    load.halfCompute = options.halfCompute;
    return sp::ModelHandle::load(options.model, load);
}

void runScore(const ModelOptions& options, const std::string& text, int topK, bool json)
{
    const sp::ModelHandle model = loadModel(options);
    const std::vector<sp::ModelHandle::PositionScore> scores = model.score(text, topK);
    if (json) {
        nlohmann::json positions = nlohmann::json::array();
        for (std::size_t index = 0; index < scores.size(); ++index) {
            nlohmann::json candidates = nlohmann::json::array();
            for (const sp::TokenProbability& candidate : scores[index].topK)
                candidates.push_back(
                    {{"id", candidate.id}, {"text", candidate.text}, {"probability", candidate.probability}});
            positions.push_back({{"position", index},
                                 {"token", scores[index].token},
                                 {"text", scores[index].text},
                                 {"top_k", candidates}});
        }
        spcli::printJson({{"model", model.summary().name},
                          {"identity", model.summary().identity},
                          {"top_k", topK},
                          {"positions", positions}});
        return;
    }
    for (std::size_t index = 0; index < scores.size(); ++index) {
        std::cout << index << "\t" << nlohmann::json(scores[index].text).dump() << "\t->";
        for (const sp::TokenProbability& candidate : scores[index].topK) {
            char probability[32];
            std::snprintf(probability, sizeof probability, "%.4f", candidate.probability);
            std::cout << "  " << nlohmann::json(candidate.text).dump() << " " << probability;
        }
        std::cout << "\n";
    }
}

void runForward(const ModelOptions& options, const std::string& idText, const std::string& out)
{
    std::vector<std::int32_t> ids;
    for (const long long id : sp::parseIntegerList(idText)) {
        if (id < 0 || id > std::numeric_limits<std::int32_t>::max())
            throw sp::Error("token id " + std::to_string(id) + " in --ids is out of range");
        ids.push_back(std::int32_t(id));
    }
    if (ids.empty())
        throw sp::Error("--ids is empty; give comma-separated token ids such as 1,2,3");
    const sp::ModelHandle model = loadModel(options);
    const std::vector<float> logits = model.logits(ids);
    const std::int64_t length = std::int64_t(ids.size());
    const std::int64_t vocab = std::int64_t(logits.size()) / length;
    sp::writeSafetensors(out, {{"logits", sp::TensorDType::F32, {length, vocab}, logits.data()}},
                         {{"format", "pt"}, {"model_identity", model.summary().identity}});
    spcli::printJson({{"out", out},
                      {"key", "logits"},
                      {"shape", {length, vocab}},
                      {"identity", model.summary().identity}});
}

struct BenchSettings {
    int prefill = 512;
    int decode = 32;
    int repeats = 3;
    int sigmaSteps = 3;
    int k = 8;
    int batch = 4;
};

void runBench(const ModelOptions& options, const std::string& preset, const BenchSettings& settings)
{
    if (options.model.empty() == preset.empty())
        throw sp::Error("give either --model PATH|demo or --random PRESET");
    fs::path temporary;
    struct Cleanup {
        fs::path path;
        ~Cleanup()
        {
            std::error_code error;
            if (!path.empty())
                fs::remove_all(path, error);
        }
    } cleanup;
    ModelOptions load = options;
    sp::ModelHandle model;
    if (!preset.empty() && sp::randomPresetMadeInMemory(preset)) {
        sp::ModelLoadOptions create;
        create.device = options.device;
        create.dtype = options.dtype;
        create.halfCompute = options.halfCompute;
        model = sp::ModelHandle::createRandom(preset, create, 0);
    } else {
        if (!preset.empty()) {
            temporary =
                fs::temp_directory_path() / ("softprompt-bench-" + preset + "-" + std::to_string(::getpid()));
            cleanup.path = temporary;
            sp::writeRandomModel(temporary.string(), preset, 0);
            load.model = temporary.string();
        }
        model = loadModel(load);
    }
    const std::int64_t weightBytes = sp::modelWeightBytes(model);
    const std::int64_t residentAfterLoad = sp::processMemory().residentBytes;
    const sp::ModelBenchmark bench = sp::benchmarkModel(model, settings.prefill, settings.decode, settings.repeats);
    nlohmann::json sigma = nullptr;
    if (settings.sigmaSteps > 0) {
        const sp::SigmaStepBenchmark step =
            sp::benchmarkSigmaStep(model, settings.k, settings.batch, 16, settings.sigmaSteps);
        sigma = {{"k", step.k},
                 {"batch", step.batch},
                 {"query_tokens", step.queryTokens},
                 {"steps", step.steps},
                 {"first_step_seconds", step.firstStepSeconds},
                 {"step_seconds_median", step.stepSecondsMedian},
                 {"steps_per_second", step.stepsPerSecond}};
    }
    const sp::ProcessMemory memory = sp::processMemory();
    const sp::ModelSummary& summary = model.summary();
    nlohmann::json output{
        {"model", preset.empty() ? summary.name : "random " + preset},
        {"made", preset.empty() ? "loaded" : sp::randomPresetMadeInMemory(preset) ? "in memory" : "written, loaded"},
        {"model_type", summary.modelType},
        {"parameters", summary.parameterCount},
        {"device", summary.device},
        {"dtype", summary.dtype},
        {"compute_dtype", summary.computeDtype},
        {"threads", bench.threads},
        {"load_seconds", bench.loadSeconds},
        {"identity_seconds", bench.identitySeconds},
        {"weight_bytes", weightBytes},
        {"rss_after_load_bytes", residentAfterLoad},
        {"peak_rss_bytes", memory.peakResidentBytes},
        {"peak_rss_over_weights", double(memory.peakResidentBytes) / double(weightBytes)},
        {"prefill_tokens", bench.prefillTokens},
        {"prefill_seconds", bench.prefillSeconds},
        {"prefill_tokens_per_s", bench.prefillTokensPerSecond},
        {"prefill_gflop", bench.prefillGflop},
        {"prefill_gflop_per_s", bench.prefillGflopPerSecond},
        {"gemm_gflop_per_s", bench.gemmGflopPerSecond},
        {"gemm_shape", bench.gemmShape},
        {"prefill_fraction_of_gemm", bench.prefillGflopPerSecond / bench.gemmGflopPerSecond},
        {"sigma_step", sigma},
    };
    if (settings.repeats > 1)
        output["prefill_all_logits_tokens_per_s"] = bench.prefillAllLogitsTokensPerSecond;
    if (settings.decode > 0) {
        output["decode_tokens"] = bench.decodeTokens;
        output["decode_tokens_per_s"] = bench.decodeTokensPerSecond;
    }
    spcli::printJson(output);
}

void registerModelCommands(CLI::App& app)
{
    {
        auto options = std::make_shared<ModelOptions>();
        auto text = std::make_shared<std::string>();
        auto topK = std::make_shared<int>(5);
        auto json = std::make_shared<bool>(false);
        CLI::App* command =
            app.add_subcommand("score", "Top-k next-token probabilities after every position of a text");
        addModelOptions(*command, *options);
        command->add_option("--text", *text, "The text to score")->required();
        command->add_option("--top-k", *topK, "Candidates per position")->capture_default_str();
        command->add_flag("--json", *json, "Print one JSON object");
        command->callback([=] { runScore(*options, *text, *topK, *json); });
    }
    {
        auto options = std::make_shared<ModelOptions>();
        auto ids = std::make_shared<std::string>();
        auto out = std::make_shared<std::string>();
        CLI::App* command = app.add_subcommand(
            "forward", "Logits [T, V] (F32, key \"logits\") of token ids, written as safetensors");
        addModelOptions(*command, *options);
        command->add_option("--ids", *ids, "Comma-separated token ids, e.g. 1,2,3")->required();
        command->add_option("--out", *out, "The .safetensors file to write")->required();
        command->callback([=] { runForward(*options, *ids, *out); });
    }
    {
        auto options = std::make_shared<ModelOptions>();
        auto preset = std::make_shared<std::string>();
        auto settings = std::make_shared<BenchSettings>();
        CLI::App* command = spcli::benchGroup(app).add_subcommand(
            "model",
            "Load time, prefill and decode tokens/s, prefill GFLOP/s next to this machine's GEMM GFLOP/s");
        addModelOptions(*command, *options, /*required=*/false);
        command->add_option("--random", *preset,
                            "Benchmark a seeded random model of a published shape instead (" +
                                sp::joinStrings(sp::randomModelPresets(), ", ") + ")");
        command->add_option("--prefill", settings->prefill, "Prompt length for the prefill measurement")
            ->capture_default_str();
        command->add_option("--decode", settings->decode, "Tokens decoded one at a time (0: none)")
            ->capture_default_str();
        command
            ->add_option("--repeats", settings->repeats,
                         "Prefills to time (1 for large models: no warm-up, no all-logits pass)")
            ->capture_default_str();
        command->add_option("--sigma-steps", settings->sigmaSteps, "σ training steps to time (0: none)")
            ->capture_default_str();
        command->add_option("--k", settings->k, "σ length for the σ step")->capture_default_str();
        command->add_option("--batch", settings->batch, "Queries per σ step")->capture_default_str();
        command->callback([=] { runBench(*options, *preset, *settings); });
    }
}

} // namespace

SP_REGISTER_CLI_COMMANDS(30, registerModelCommands);
