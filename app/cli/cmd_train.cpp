// The compression commands:
//   softprompt train --model PATH|demo --context FILE --queries FILE.jsonl [--heldout FILE.jsonl | --split
//   0.2]
//                    --k 8 --objective kl|rkl|js|nll|mse|cosine [--temperature T]
//                    [--target next|continuation --length L] --init random|vocab|text|chunks
//                    --steps N --lr X --batch B --device cpu|cuda --seed S [--db PATH] [--json]
//   softprompt sweep ... --ks 1,2,4,8,16,32 [--json]
//   softprompt eval --run ID [--db PATH] [--json]
//   softprompt bench train --model PATH|demo|random
// Progress (with an ETA) goes to stderr; the result is one JSON object on stdout.
#include "cli_common.h"
#include "registry.h"

#include "softprompt/engine.h"
#include "softprompt/error.h"
#include "softprompt/paths.h"
#include "softprompt/run_recording.h"
#include "softprompt/run_store.h"
#include "softprompt/text.h"

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>

#include <unistd.h>

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// ---- SIGINT: cancel the run cleanly (a second Ctrl-C ends the process) ---------------------------
std::atomic<sp::TrainControl*> activeControl{nullptr};

extern "C" void cancelOnInterrupt(int)
{
    if (sp::TrainControl* control = activeControl.load())
        control->cancel.store(true);
    std::signal(SIGINT, SIG_DFL);
}

struct InterruptScope {
    explicit InterruptScope(sp::TrainControl& control)
    {
        activeControl.store(&control);
        std::signal(SIGINT, cancelOnInterrupt);
    }
    ~InterruptScope()
    {
        std::signal(SIGINT, SIG_DFL);
        activeControl.store(nullptr);
    }
};

// ---- options --------------------------------------------------------------------------------------
struct TrainOptions {
    std::string model;
    std::string device = "cpu";
    std::string dtype = "float32";
    std::string contextPath;
    std::string queriesPath;
    std::string heldoutPath;
    std::optional<double> split;
    std::string objective = "kl";
    std::string target = "next";
    std::string init = "text";
    std::string initText;
    std::string db;
    std::string name;
    std::string ks = "1,2,4,8,16,32";
    bool json = false;
    bool noStore = false;
    sp::TrainConfig config;
};

void addTrainOptions(CLI::App& command, TrainOptions& options, bool sweep)
{
    sp::TrainConfig& config = options.config;
    command.add_option("--model", options.model, "A Hugging Face model folder, or \"demo\"")->required();
    command.add_option("--context", options.contextPath, "The long context c: a UTF-8 text file")->required();
    command
        .add_option("--queries", options.queriesPath,
                    "Queries z: JSONL, one {\"query\": ..., \"target\": ...} per line")
        ->required();
    CLI::Option* heldout = command.add_option("--heldout", options.heldoutPath,
                                              "Held-out queries (JSONL), evaluated but never trained on");
    command
        .add_option("--split", options.split,
                    "Fraction of --queries held out when no --heldout file is given")
        ->excludes(heldout);
    if (sweep)
        command.add_option("--ks", options.ks, "The k values to train, e.g. 1,2,4,8,16,32")
            ->capture_default_str();
    else
        command.add_option("--k", config.k, "Number of soft-prompt vectors")->capture_default_str();
    command.add_option("--objective", options.objective, "kl, rkl, js, nll, mse or cosine")
        ->capture_default_str();
    command.add_option("--temperature", config.temperature, "Temperature τ of the distributions")
        ->capture_default_str();
    command
        .add_option("--target", options.target, "next (the token after z) or continuation (L teacher tokens)")
        ->capture_default_str();
    command
        .add_option("--length", config.continuationLength,
                    "L: continuation length (and greedy evaluation length)")
        ->capture_default_str();
    command.add_option("--init", options.init, "random, vocab, text or chunks")->capture_default_str();
    command.add_option("--init-text", options.initText, "Text for --init text (default: the context)");
    command.add_option("--steps", config.steps, "Optimisation steps")->capture_default_str();
    command.add_option("--lr", config.learningRate, "Peak learning rate")->capture_default_str();
    command.add_option("--batch", config.batchSize, "Queries per step")->capture_default_str();
    command.add_option("--warmup", config.warmupSteps, "Warm-up steps before the cosine decay")
        ->capture_default_str();
    command.add_option("--optimizer", config.optimizer, "adam or adamw")->capture_default_str();
    command.add_option("--weight-decay", config.weightDecay, "Weight decay")->capture_default_str();
    command.add_option("--clip", config.gradClip, "Gradient-norm clip (0 = off)")->capture_default_str();
    command.add_option("--eval-every", config.evalInterval, "Held-out evaluation interval in steps")
        ->capture_default_str();
    command
        .add_option("--patience", config.earlyStopPatience,
                    "Early stopping patience in evaluations (0 = off)")
        ->capture_default_str();
    command.add_option("--checkpoint-every", config.checkpointInterval, "σ checkpoint interval in steps")
        ->capture_default_str();
    command
        .add_option("--teacher-top-k", config.teacherTopK,
                    "Teacher tokens kept per position for large vocabularies")
        ->capture_default_str();
    command.add_option("--seed", config.seed, "Seed (same seed, same σ on CPU)")->capture_default_str();
    command.add_option("--device", options.device, "cpu, cuda or cuda:N")->capture_default_str();
    command.add_option("--dtype", options.dtype, "float32, float16 or bfloat16 (half types need CUDA)")
        ->capture_default_str();
    command.add_option("--db", options.db,
                       "Run database (default: " + std::string("the per-user runs.sqlite") + ")");
    command.add_flag("--no-store", options.noStore, "Do not record the run in the database");
    command.add_option("--name", options.name, "A label for the run");
    command.add_flag("--json", options.json,
                     "Print only the JSON result on stdout (progress stays on stderr)");
}

sp::TrainConfig finishConfig(TrainOptions& options)
{
    sp::TrainConfig config = options.config;
    config.objective = sp::objectiveFromKey(options.objective);
    config.target = sp::targetKindFromKey(options.target);
    config.init = sp::initKindFromKey(options.init);
    config.initText = options.initText;
    config.device = options.device;
    config.dtype = options.dtype;
    if (options.split)
        config.heldoutFraction = *options.split;
    return config;
}

std::string readContext(const std::string& path)
{
    const std::string text = sp::readTextFile(path);
    if (!sp::isValidUtf8(text))
        throw sp::Error(sp::fileError(path, "is not valid UTF-8 text; save the context as UTF-8"));
    if (sp::trimWhitespace(text).empty())
        throw sp::Error(
            sp::fileError(path, "is empty; the context is the long prompt that σ should compress"));
    return text;
}

std::vector<sp::Query> readQueries(const TrainOptions& options)
{
    std::vector<sp::Query> queries = sp::readQueriesJsonl(options.queriesPath);
    if (!options.heldoutPath.empty())
        for (sp::Query& query : sp::readQueriesJsonl(options.heldoutPath, true))
            queries.push_back(std::move(query));
    return queries;
}

sp::ModelHandle loadModel(const std::string& path, const std::string& device, const std::string& dtype)
{
    sp::ModelLoadOptions load;
    load.device = device;
    load.dtype = dtype;
    return sp::ModelHandle::load(path, load);
}

// ---- progress ---------------------------------------------------------------------------------------
std::string clockText(double seconds)
{
    const long total = long(seconds + 0.5);
    char text[32];
    if (total >= 3600)
        std::snprintf(text, sizeof text, "%ld:%02ld:%02ld", total / 3600, total / 60 % 60, total % 60);
    else
        std::snprintf(text, sizeof text, "%ld:%02ld", total / 60, total % 60);
    return text;
}

class Progress {
public:
    explicit Progress(std::string label) : label_(std::move(label)), tty_(isatty(STDERR_FILENO) == 1) {}
    ~Progress() { end(); }

    void phase(const std::string& name, double fraction)
    {
        const bool samePhase = name == lastPhase_;
        if (samePhase && (fraction <= lastFraction_ || (fraction < 1.0 && secondsSinceLine() < 1.0)))
            return;
        lastPhase_ = name;
        lastFraction_ = fraction;
        print(label_ + name +
              (fraction > 0.0 ? " " + std::to_string(int(fraction * 100)) + "%" : std::string("…")));
    }

    void step(const sp::StepReport& report)
    {
        if (report.hasHeldout) {
            heldoutS_ = report.heldoutS;
            heldoutTop1_ = report.heldoutTop1;
            hasHeldout_ = true;
        }
        if (!(report.step == report.totalSteps || report.hasHeldout ||
              secondsSinceLine() >= (tty_ ? 0.2 : 2.0)))
            return;
        char text[256];
        std::snprintf(text, sizeof text, "step %d/%d  s %.4f  top-1 %.2f", report.step, report.totalSteps,
                      report.trainS, report.trainTop1);
        std::string line = label_ + text;
        if (hasHeldout_) {
            std::snprintf(text, sizeof text, "  held-out s %.4f top-1 %.2f", heldoutS_, heldoutTop1_);
            line += text;
        }
        std::snprintf(text, sizeof text, "  lr %.2e  %.1f steps/s  %.0f tok/s  ETA %s", report.learningRate,
                      report.step / std::max(report.elapsedSeconds, 1e-9), report.tokensPerSecond,
                      clockText(report.etaSeconds).c_str());
        print(line + text);
    }

    void end()
    {
        if (tty_ && open_)
            std::cerr << std::endl;
        open_ = false;
    }

private:
    double secondsSinceLine() const
    {
        return std::chrono::duration<double>(Clock::now() - lastLine_).count();
    }
    void print(const std::string& line)
    {
        lastLine_ = Clock::now();
        if (tty_) {
            std::cerr << "\r\033[K" << line << std::flush;
            open_ = true;
        } else {
            std::cerr << line << std::endl;
        }
    }

    std::string label_;
    bool tty_ = false;
    bool open_ = false;
    std::string lastPhase_;
    double lastFraction_ = -1.0;
    Clock::time_point lastLine_{};
    bool hasHeldout_ = false;
    double heldoutS_ = 0.0, heldoutTop1_ = 0.0;
};

// ---- JSON ----------------------------------------------------------------------------------------------
nlohmann::json queriesJson(const sp::Evaluation& evaluation)
{
    nlohmann::json queries = nlohmann::json::array();
    for (const sp::QueryEvaluation& query : evaluation.queries) {
        nlohmann::json outcomes = nlohmann::json::object();
        for (const sp::ConditionOutcome& outcome : query.outcomes) {
            nlohmann::json top = nlohmann::json::array();
            for (const sp::TokenProbability& token : outcome.topK)
                top.push_back({{"id", token.id}, {"text", token.text}, {"probability", token.probability}});
            outcomes[sp::conditionKey(outcome.condition)] = {
                {"prediction", outcome.prediction},
                {"s", outcome.s},
                {"kl", outcome.kl},
                {"top1_agrees", outcome.top1Agrees},
                {"teacher_nll", outcome.teacherNll},
                {"exact_match", outcome.exactMatch},
                {"top_k", top},
                {"per_token_divergence", outcome.perTokenDivergence}};
        }
        queries.push_back({{"query", query.query},
                           {"target", query.target},
                           {"held_out", query.heldOut},
                           {"outcomes", outcomes}});
    }
    return queries;
}

// ---- one run: train, evaluate against the baselines, store -------------------------------------------
struct RunContext {
    sp::CompressionTask* task = nullptr;
    std::string modelPath;
    std::string queriesName;
    sp::RunStore* store = nullptr;
    sp::StoredInputs inputs;
    std::optional<std::int64_t> sweepId;
};

nlohmann::json trainOnce(RunContext& run, const sp::TrainConfig& config, const std::string& name,
                         const std::string& label)
{
    sp::CompressionTask& task = *run.task;
    task.validate(config);
    const sp::ModelSummary& summary = task.model().summary();
    std::unique_ptr<sp::RunWriter> writer;
    if (run.store)
        writer =
            run.store->startRun(sp::newRunFor(name, config, summary, run.modelPath, run.inputs, run.sweepId));

    sp::TrainControl control;
    InterruptScope interrupt(control);
    Progress progress(label);
    sp::TrainCallbacks callbacks;
    callbacks.onPhase = [&](const std::string& phase, double fraction) { progress.phase(phase, fraction); };
    callbacks.onStep = [&](const sp::StepReport& report) {
        progress.step(report);
        if (writer)
            writer->addMetrics(report.step, sp::stepMetrics(report));
    };
    callbacks.onCheckpoint = [&](int step, const sp::SoftPrompt& sigma) {
        if (writer)
            writer->checkpoint(step, sigma);
    };

    const Clock::time_point start = Clock::now();
    sp::TrainResult result;
    try {
        result = task.train(config, callbacks, control);
    } catch (const sp::Error& error) {
        if (writer)
            writer->finish(sp::RunStatus::Failed, error.what());
        throw;
    }
    const double trainSeconds = std::chrono::duration<double>(Clock::now() - start).count();
    progress.end();

    // Held-out evaluation of σ against every baseline, σ kept even when the run was cancelled.
    std::optional<sp::Evaluation> evaluation;
    if (result.status != sp::RunStatus::Failed || !result.sigma.empty()) {
        progress.phase("evaluating σ against the baselines", 0.0);
        evaluation = task.evaluate(result.sigma, config);
        progress.end();
    }
    const nlohmann::json summaryJson = sp::runSummary(config, result, summary, task.contextTokenCount(),
                                                      trainSeconds, evaluation ? &*evaluation : nullptr);
    if (writer) {
        if (evaluation)
            writer->addEvaluations(sp::toStoredEvaluations(*evaluation, result.stepsCompleted));
        if (!result.sigma.empty())
            writer->checkpoint(result.stepsCompleted, result.sigma);
        writer->setSummary(summaryJson);
        writer->finish(result.status, result.error);
    }
    nlohmann::json output = summaryJson;
    output["run_id"] = writer ? nlohmann::json(writer->runId()) : nlohmann::json();
    if (evaluation)
        output["conditions"] = sp::conditionsJson(*evaluation);
    return output;
}

std::unique_ptr<sp::RunStore> openStore(const TrainOptions& options)
{
    if (options.noStore)
        return nullptr;
    return std::make_unique<sp::RunStore>(sp::RunStore::open(spcli::databasePath(options.db)));
}

void storeInputs(RunContext& run, sp::RunStore& store, const sp::TrainConfig& config)
{
    run.store = &store;
    run.inputs = sp::storeTaskInputs(store, *run.task, config, run.queriesName);
}

void finishStatus(const nlohmann::json& output)
{
    const std::string status = output.value("status", "finished");
    if (status == "cancelled")
        throw sp::Cancelled();
    if (status == "failed")
        throw sp::Error(output.value("error", std::string("training failed")));
}

void runTrain(TrainOptions& options)
{
    sp::TrainConfig config = finishConfig(options);
    const std::string context = readContext(options.contextPath);
    std::vector<sp::Query> queries = readQueries(options);
    const sp::ModelHandle model = loadModel(options.model, options.device, options.dtype);
    sp::CompressionTask task(model, context, std::move(queries));
    task.validate(config);

    RunContext run;
    run.task = &task;
    run.modelPath = options.model;
    run.queriesName = fs::path(options.queriesPath).stem().string();
    std::unique_ptr<sp::RunStore> store = openStore(options);
    if (store)
        storeInputs(run, *store, config);
    nlohmann::json output = trainOnce(run, config, options.name, "");
    if (store)
        output["db"] = store->path();
    spcli::printJson(output);
    finishStatus(output);
}

void runSweep(TrainOptions& options)
{
    sp::TrainConfig base = finishConfig(options);
    std::vector<int> ks;
    for (long long k : sp::parseIntegerList(options.ks))
        ks.push_back(int(k));
    if (ks.empty())
        throw sp::Error("--ks needs at least one k, e.g. --ks 1,2,4,8,16,32");
    const std::string context = readContext(options.contextPath);
    const sp::ModelHandle model = loadModel(options.model, options.device, options.dtype);
    sp::CompressionTask task(model, context, readQueries(options));
    for (int k : ks) {
        sp::TrainConfig config = base;
        config.k = k;
        task.validate(config); // every k before the first one trains
    }

    RunContext run;
    run.task = &task;
    run.modelPath = options.model;
    run.queriesName = fs::path(options.queriesPath).stem().string();
    nlohmann::json output{{"sweep_id", nullptr},
                          {"context_tokens", task.contextTokenCount()},
                          {"objective", sp::objectiveInfo(base.objective).key},
                          {"higher_is_better", sp::objectiveInfo(base.objective).higherIsBetter}};
    std::unique_ptr<sp::RunStore> store = openStore(options);
    if (store) {
        storeInputs(run, *store, base);
        run.sweepId = store->createSweep(
            options.name.empty() ? "sweep " + sp::joinStrings(sp::splitString(options.ks, ','), ",")
                                 : options.name,
            base.toJson(), run.inputs.contextId);
        output["sweep_id"] = *run.sweepId;
        output["db"] = store->path();
    }
    nlohmann::json points = nlohmann::json::array();
    std::string status = "finished";
    for (std::size_t i = 0; i < ks.size(); ++i) {
        sp::TrainConfig config = base;
        config.k = ks[i];
        const std::string label = "[k=" + std::to_string(ks[i]) + " " + std::to_string(i + 1) + "/" +
                                  std::to_string(ks.size()) + "] ";
        nlohmann::json point =
            trainOnce(run, config,
                      options.name + (options.name.empty() ? "" : " ") + "k=" + std::to_string(ks[i]), label);
        point.erase("conditions");
        status = point.value("status", "finished");
        points.push_back(point);
        if (status == "cancelled")
            break;
    }
    output["points"] = points;
    output["status"] = status;
    spcli::printJson(output);
    if (status == "cancelled")
        throw sp::Cancelled();
}

// ---- eval --run ID -------------------------------------------------------------------------------------
// Evaluates the run's last σ on its stored context and queries and stores the result as the run's
// evaluations (replacing the earlier ones: the same σ, the same queries, one row per condition).
void runEval(std::int64_t runId, const std::string& db, const std::string& device, bool queries)
{
    sp::RunStore store = spcli::openExistingStore(db);
    const sp::RunRecord record = store.run(runId);
    if (!record.contextId || !record.querySetId)
        throw sp::Error("run " + std::to_string(runId) +
                        " has no stored context or query set (imported σ?); " +
                        "evaluate it with softprompt train --context ... instead");
    sp::TrainConfig config = sp::TrainConfig::fromJson(record.config);
    if (!device.empty())
        config.device = device;
    const std::vector<sp::CheckpointInfo> checkpoints = store.checkpoints(runId);
    const int sigmaStep = checkpoints.empty() ? 0 : checkpoints.back().step;
    const sp::SoftPrompt sigma = store.loadSigma(runId); // the last checkpoint, at sigmaStep
    config.k = sigma.k;
    const sp::ModelHandle model = loadModel(record.model.path, config.device, config.dtype);
    if (!record.model.hash.empty() && model.summary().identity != record.model.hash)
        throw sp::Error("the model at " + record.model.path + " is not the one run " + std::to_string(runId) +
                        " was trained on (its files changed: identity " +
                        model.summary().identity.substr(0, 12) + " ≠ " + record.model.hash.substr(0, 12) +
                        "); σ only fits the original model");
    std::vector<sp::Query> taskQueries;
    std::vector<std::int64_t> queryIds;
    for (const sp::StoredQuery& query : store.querySet(*record.querySetId).queries) {
        taskQueries.push_back({query.text, query.target, query.heldOut});
        queryIds.push_back(query.id);
    }
    sp::CompressionTask task(model, store.context(*record.contextId).text, std::move(taskQueries));
    const sp::Evaluation evaluation = task.evaluate(sigma, config);
    const std::vector<sp::StoredEvaluation> rows = sp::toStoredEvaluations(evaluation, sigmaStep, queryIds);
    store.addEvaluations(runId, rows, true);
    nlohmann::json output{{"run_id", runId},
                          {"db", store.path()},
                          {"sigma_step", sigmaStep},
                          {"stored_evaluations", rows.size()},
                          {"k", config.k},
                          {"context_tokens", task.contextTokenCount()},
                          {"compression_ratio", double(task.contextTokenCount()) / double(config.k)},
                          {"objective", sp::objectiveInfo(config.objective).key},
                          {"higher_is_better", sp::objectiveInfo(config.objective).higherIsBetter},
                          {"conditions", sp::conditionsJson(evaluation)}};
    const nlohmann::json& sigmaCondition = output["conditions"]["sigma"];
    output["heldout_s"] = sigmaCondition["heldout_s"];
    output["heldout_top1_agreement"] = sigmaCondition["heldout_top1_agreement"];
    if (queries)
        output["queries"] = queriesJson(evaluation);
    spcli::printJson(output);
}

// ---- bench train -----------------------------------------------------------------------------------------
void runBench(const std::string& modelPath, const std::string& device, const std::string& dtype,
              const sp::TrainBenchOptions& options)
{
    if (modelPath == "random") {
        spcli::printJson(sp::benchmarkTrainingOnRandomModel(options));
        return;
    }
    sp::ModelLoadOptions load;
    load.device = device;
    load.dtype = dtype;
    sp::ModelHandle model;
    try {
        model = sp::ModelHandle::load(modelPath, load);
    } catch (const sp::Error& error) {
        if (modelPath != "demo" || dtype != "float32")
            throw;
        // Until the demo model is built, measure on a seeded random model of a realistic size.
        nlohmann::json json = sp::benchmarkTrainingOnRandomModel(options);
        json["note"] = std::string("the demo model could not be loaded (") + error.what() +
                       "); measured on a seeded random model instead";
        spcli::printJson(json);
        return;
    }
    spcli::printJson(sp::benchmarkTraining(model, options));
}

void registerTrainCommands(CLI::App& app)
{
    auto trainOptions = std::make_shared<TrainOptions>();
    CLI::App* train =
        app.add_subcommand("train", "Learn σ (k vectors) that make (σ, z) predict what (c, z) predicts");
    addTrainOptions(*train, *trainOptions, false);
    train->callback([trainOptions] { runTrain(*trainOptions); });

    auto sweepOptions = std::make_shared<TrainOptions>();
    CLI::App* sweep =
        app.add_subcommand("sweep", "Train σ for each k and report fidelity against compression ratio");
    addTrainOptions(*sweep, *sweepOptions, true);
    sweep->callback([sweepOptions] { runSweep(*sweepOptions); });

    auto evalRun = std::make_shared<std::int64_t>(0);
    auto evalDb = std::make_shared<std::string>();
    auto evalDevice = std::make_shared<std::string>();
    auto evalJson = std::make_shared<bool>(false);
    auto evalQueries = std::make_shared<bool>(false);
    CLI::App* eval = app.add_subcommand("eval", "Evaluate a stored run's σ against the baselines");
    eval->add_option("--run", *evalRun, "Run id (softprompt runs list)")->required();
    eval->add_option("--db", *evalDb, "Run database (default: the per-user runs.sqlite)");
    eval->add_option("--device", *evalDevice, "Override the run's device (cpu, cuda)");
    eval->add_flag("--json", *evalJson, "JSON output (the only format)");
    eval->add_flag("--queries", *evalQueries, "Include every query's outcomes");
    eval->callback([=] { runEval(*evalRun, *evalDb, *evalDevice, *evalQueries); });

    auto benchModel = std::make_shared<std::string>("demo");
    auto benchDevice = std::make_shared<std::string>("cpu");
    auto benchDtype = std::make_shared<std::string>("float32");
    auto benchOptions = std::make_shared<sp::TrainBenchOptions>();
    CLI::App* bench = spcli::benchGroup(app).add_subcommand(
        "train", "σ-training speed, GEMM efficiency, teacher-cache speedup");
    bench
        ->add_option("--model", *benchModel,
                     "A model folder, \"demo\", or \"random\" (a seeded random model)")
        ->capture_default_str();
    bench->add_option("--device", *benchDevice, "cpu or cuda")->capture_default_str();
    bench->add_option("--dtype", *benchDtype, "float32, float16 or bfloat16 (half types need CUDA)")
        ->capture_default_str();
    bench->add_option("--steps", benchOptions->steps, "Training steps to time")->capture_default_str();
    bench->add_option("--k", benchOptions->k, "k")->capture_default_str();
    bench->add_option("--batch", benchOptions->batchSize, "Queries per step")->capture_default_str();
    bench->add_option("--context-tokens", benchOptions->contextTokens, "Context length in tokens")
        ->capture_default_str();
    bench->callback([=] { runBench(*benchModel, *benchDevice, *benchDtype, *benchOptions); });
}

} // namespace

SP_REGISTER_CLI_COMMANDS(40, registerTrainCommands);
