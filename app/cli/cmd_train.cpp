// The compression commands:
//   softprompt train --model PATH|demo --context FILE --queries FILE.jsonl [--heldout FILE.jsonl | --split
//   0.2]
//                    --k 8 --objective kl|rkl|js|nll|mse|cosine [--temperature T]
//                    [--target next|continuation --length L] --init random|vocab|text|chunks
//                    --steps N --lr X --batch B --device cpu|cuda --seed S [--db PATH] [--json]
//   softprompt sweep ... --ks 1,2,4,8,16,32 [--json]
//   softprompt eval --run ID [--db PATH] [--json] [--coverage] (cmd_coverage.cpp)
//   softprompt bench train --model PATH|demo|random
// Progress (with an ETA) goes to stderr; the result is one JSON object on stdout.
#include "cli_common.h"
#include "cli_coverage.h"
#include "cmd_sweep.h"
#include "registry.h"

#include "softprompt/engine.h"
#include "softprompt/benchmarks.h"
#include "softprompt/error.h"
#include "softprompt/paths.h"
#include "softprompt/prompt_pieces_json.h"
#include "softprompt/run_recording.h"
#include "softprompt/run_store.h"
#include "softprompt/training_session.h"
#include "softprompt/text.h"
#include "softprompt/train_config_json.h"

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <functional>
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
    // The defaults are TrainConfig's, as in the GUI's training panel (one set; see README).
    std::string objective = sp::objectiveInfo(sp::TrainConfig{}.objective).key;
    std::string target = sp::targetKindKey(sp::TrainConfig{}.target);
    std::string init = sp::initKindKey(sp::TrainConfig{}.init);
    std::string initText;
    std::string db;
    std::string name;
    std::string ks = "1,2,4,8,16,32";
    std::string format = "auto";
    bool json = false;
    bool noStore = false;
    // A grid point of a sweep (cmd_sweep.cpp): the sweep's global id and name, and tags.
    std::string sweepUuid;
    std::string sweepName;
    std::vector<std::string> tags;
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
    command
        .add_option("--format", options.format,
                    "auto, plain or chat: chat puts c in the system turn of the model's chat template and z in "
                    "the user turn, σ replacing the system content only; auto = chat when the model has a "
                    "template")
        ->capture_default_str();
    command.add_option("--device", options.device, "cpu, cuda or cuda:N")->capture_default_str();
    command.add_option("--dtype", options.dtype, "float32, float16 or bfloat16 (on the CPU, half weights are computed in float32 blocks)")
        ->capture_default_str();
    command.add_option("--db", options.db,
                       "Run database (default: " + std::string("the per-user runs.sqlite") + ")");
    command.add_flag("--no-store", options.noStore, "Do not record the run in the database");
    command.add_option("--name", options.name, "A label for the run");
    command.add_flag("--json", options.json,
                     "Print only the JSON result on stdout (progress stays on stderr)");
    if (!sweep) {
        command.add_option("--sweep-uuid", options.sweepUuid,
                           "Record the run in the sweep with this global id (created when missing); "
                           "set by `softprompt sweep --grid` for each grid point");
        command.add_option("--sweep-name", options.sweepName, "With --sweep-uuid: the sweep's name");
        command.add_option("--tag", options.tags, "A tag for the run (repeatable)");
    }
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

    void setLabel(std::string label)
    {
        label_ = std::move(label);
        lastPhase_.clear();
        lastFraction_ = -1.0;
        hasHeldout_ = false;
    }

    void phase(const std::string& name, double fraction)
    {
        const bool samePhase = name == lastPhase_;
        if (samePhase && (fraction <= lastFraction_ || (fraction < 1.0 && secondsSinceLine() < 1.0)))
            return;
        if (!samePhase && lastWasStep_)
            end(); // keep the last step line
        lastPhase_ = name;
        lastFraction_ = fraction;
        lastWasStep_ = false;
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
        lastWasStep_ = true;
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
    bool lastWasStep_ = false;
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

// ---- train and sweep: the training session, reported on stderr and as JSON -----------------------------
// The JSON of one run: its stored summary, its run id and, when σ was evaluated, every condition.
nlohmann::json runJson(const sp::RunOutcome& run)
{
    nlohmann::json output = run.summary;
    output["run_id"] = run.runId > 0 ? nlohmann::json(run.runId) : nlohmann::json();
    if (run.evaluated)
        output["conditions"] = sp::conditionsJson(run.evaluation);
    return output;
}

sp::TrainingPlan planFor(const TrainOptions& options, const sp::TrainConfig& config)
{
    sp::TrainingPlan plan;
    plan.config = config;
    plan.databasePath = options.noStore ? std::string() : spcli::databasePath(options.db);
    plan.runName = options.name;
    plan.querySetName = fs::path(options.queriesPath).stem().string();
    plan.modelPath = options.model;
    // A grid point of a sweep (softprompt sweep --grid): joins the sweep by its global id.
    plan.sweepUuid = options.sweepUuid;
    if (!options.sweepUuid.empty())
        plan.sweepName = options.sweepName.empty() ? "grid sweep" : options.sweepName;
    plan.tags = options.tags;
    return plan;
}

// Runs the session with Ctrl-C as cancel and progress on stderr; `labelFor` names each run's lines.
sp::SessionOutcome runSession(sp::CompressionTask& task, const sp::TrainingPlan& plan,
                              const std::function<std::string(int sweepIndex, int k)>& labelFor)
{
    sp::SessionControl control;
    InterruptScope interrupt(control);
    Progress progress("");
    sp::TrainingProgress callbacks;
    callbacks.onRunStarted = [&](std::int64_t, int sweepIndex, int k) {
        progress.end();
        progress.setLabel(labelFor(sweepIndex, k));
    };
    callbacks.onPhase = [&](const std::string& phase, double fraction) { progress.phase(phase, fraction); };
    callbacks.onStep = [&](const sp::StepReport& report) { progress.step(report); };
    return sp::runTrainingSession(task, plan, callbacks, control);
}

// Exit status: 130 when cancelled, 1 when a run failed or the runs could not be recorded.
void finishStatus(const sp::SessionOutcome& outcome)
{
    if (outcome.status() == sp::RunStatus::Cancelled)
        throw sp::Cancelled();
    if (outcome.status() == sp::RunStatus::Failed)
        throw sp::Error(outcome.runs.back().message.empty() ? std::string("training failed")
                                                            : outcome.runs.back().message,
                        outcome.runs.back().remedy);
    if (!outcome.storeError.empty())
        throw sp::Error(outcome.storeError +
                        "; the result above was not recorded: pass --db PATH to record runs in another "
                        "database, or --no-store");
}

void runTrain(TrainOptions& options)
{
    const sp::TrainConfig config = finishConfig(options);
    const std::string context = readContext(options.contextPath);
    std::vector<sp::Query> queries = readQueries(options);
    const sp::ModelHandle model = loadModel(options.model, options.device, options.dtype);
    sp::CompressionTask task(model, context, std::move(queries), sp::promptFormatFromKey(options.format));
    task.validate(config);

    const sp::TrainingPlan plan = planFor(options, config);
    const sp::SessionOutcome outcome = runSession(task, plan, [](int, int) { return std::string(); });
    nlohmann::json output = outcome.runs.empty() ? nlohmann::json::object() : runJson(outcome.runs.back());
    output["format"] = sp::promptFormatKey(task.promptPieces().format);
    output["prompt"] = sp::promptPiecesToJson(task.promptPieces());
    if (!plan.databasePath.empty())
        output["db"] = plan.databasePath;
    if (!outcome.storeError.empty())
        output["store_error"] = outcome.storeError;
    spcli::printJson(output);
    finishStatus(outcome);
}

void runSweep(TrainOptions& options)
{
    const sp::TrainConfig base = finishConfig(options);
    std::vector<int> ks;
    for (long long k : sp::parseIntegerList(options.ks))
        ks.push_back(int(k));
    if (ks.empty())
        throw sp::Error("--ks needs at least one k, e.g. --ks 1,2,4,8,16,32");
    const std::string context = readContext(options.contextPath);
    const sp::ModelHandle model = loadModel(options.model, options.device, options.dtype);
    sp::CompressionTask task(model, context, readQueries(options), sp::promptFormatFromKey(options.format));

    sp::TrainingPlan plan = planFor(options, base);
    plan.sweepKs = ks;
    plan.sweepName = options.name.empty() ? "sweep " + sp::joinStrings(sp::splitString(options.ks, ','), ",")
                                          : options.name;
    const sp::SessionOutcome outcome = runSession(task, plan, [&](int sweepIndex, int k) {
        return "[k=" + std::to_string(k) + " " + std::to_string(sweepIndex + 1) + "/" +
               std::to_string(ks.size()) + "] ";
    });
    nlohmann::json output{{"sweep_id", outcome.sweepId > 0 ? nlohmann::json(outcome.sweepId) : nlohmann::json()},
                          {"context_tokens", task.contextTokenCount()},
                          {"format", sp::promptFormatKey(task.promptPieces().format)},
                          {"prompt", sp::promptPiecesToJson(task.promptPieces())},
                          {"objective", sp::objectiveInfo(base.objective).key},
                          {"higher_is_better", sp::objectiveInfo(base.objective).higherIsBetter}};
    if (!plan.databasePath.empty())
        output["db"] = plan.databasePath;
    nlohmann::json points = nlohmann::json::array();
    for (const sp::RunOutcome& run : outcome.runs) {
        nlohmann::json point = runJson(run);
        point.erase("conditions");
        points.push_back(point);
    }
    output["points"] = points;
    output["status"] = sp::runStatusKey(outcome.status());
    if (!outcome.storeError.empty())
        output["store_error"] = outcome.storeError;
    spcli::printJson(output);
    finishStatus(outcome);
}

// ---- eval --run ID -------------------------------------------------------------------------------------
// Evaluates the run's last σ on its stored context and queries and stores the result as the run's
// evaluations (replacing the earlier ones: the same σ, the same queries, one row per condition).
void runEval(std::int64_t runId, const std::string& db, const std::string& device, bool queries,
             const std::string& format)
{
    sp::RunStore store = spcli::openExistingStore(db);
    const sp::RunRecord record = store.run(runId);
    if (!record.contextId || !record.querySetId) {
        // An imported PEFT adapter brings σ without the context and queries it was trained on.
        const std::string id = std::to_string(runId);
        const std::string origin = record.config.value("importedFrom", std::string());
        throw sp::Error("run " + id + (origin.empty() ? "" : " (imported from " + origin + ")") +
                        " has no stored context and queries to evaluate its σ against; ask it next to a "
                        "context instead: softprompt generate --run " +
                        id + " --context FILE --condition all --prompt TEXT");
    }
    sp::TrainConfig config = sp::trainConfigFromJson(record.config);
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
    // The run's own format unless --format says otherwise (runs from before formats were plain).
    const sp::PromptFormat promptFormat = sp::promptFormatFromKey(format.empty() ? record.promptFormat : format);
    sp::CompressionTask task(model, store.context(*record.contextId).text, std::move(taskQueries), promptFormat,
                             record.promptPieces.value("template", std::string()));
    const sp::Evaluation evaluation = task.evaluate(sigma, config);
    const std::vector<sp::StoredEvaluation> rows = sp::toStoredEvaluations(evaluation, sigmaStep, queryIds);
    store.addEvaluations(runId, rows, true);
    nlohmann::json output{{"run_id", runId},
                          {"db", store.path()},
                          {"sigma_step", sigmaStep},
                          {"stored_evaluations", rows.size()},
                          {"k", config.k},
                          {"context_tokens", task.contextTokenCount()},
                          {"format", sp::promptFormatKey(task.promptPieces().format)},
                          {"prompt", sp::promptPiecesToJson(task.promptPieces())},
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
void runBench(const std::string& modelPath, const std::string& randomPreset, const std::string& device,
              const std::string& dtype, const sp::TrainBenchOptions& options)
{
    // Core refuses the same options in its own words; here, before a model is loaded, with the flags'
    // names (the query count has no flag).
    if (!sp::trainBenchOptionsValid(options))
        throw sp::Error("bench train needs --steps ≥ 5, --k ≥ 1, --batch ≥ 1 and --context-tokens ≥ 16");
    if (!randomPreset.empty() || modelPath == "random") {
        if (device != "cpu" || dtype != "float32")
            throw sp::Error("bench train --random runs in float32 on the CPU; for another device or dtype, pass "
                            "a model folder to --model");
        spcli::printJson(sp::benchmarkTrainingOnRandomModel(randomPreset.empty() ? "tiny" : randomPreset, options));
        return;
    }
    sp::ModelLoadOptions load;
    load.device = device;
    load.dtype = dtype;
    const sp::ModelHandle model = sp::ModelHandle::load(modelPath, load);
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
    sweep->callback([sweepOptions, sweep] {
        if (!spcli::runGridSweepIfAsked(*sweep)) // --grid, --slurm, status/cancel/merge: cmd_sweep.cpp
            runSweep(*sweepOptions);
    });

    // Every option's storage lives in one struct that the callback owns: CLI11 writes to it while
    // parsing, after this function has returned (a flag whose shared_ptr the callback did not
    // capture was written after it was freed; ASan found it).
    struct EvalOptions {
        std::int64_t run = 0;
        std::string db;
        std::string device;
        bool json = false; // JSON is the only format; the flag is accepted for scripts that pass it
        bool queries = false;
        std::string format;
        spcli::CoverageCliOptions coverage;
    };
    auto evalOptions = std::make_shared<EvalOptions>();
    CLI::App* eval = app.add_subcommand("eval", "Evaluate a stored run's σ against the baselines");
    eval->add_option("--run", evalOptions->run, "Run id (softprompt runs list)")->required();
    eval->add_option("--db", evalOptions->db, "Run database (default: the per-user runs.sqlite)");
    eval->add_option("--device", evalOptions->device, "Override the run's device (cpu, cuda)");
    eval->add_flag("--json", evalOptions->json, "JSON output (the only format)");
    eval->add_flag("--queries", evalOptions->queries, "Include every query's outcomes");
    eval->add_option("--format", evalOptions->format,
                     "auto, plain or chat (default: the format the run was trained with)");
    spcli::addCoverageOptions(*eval, evalOptions->coverage);
    eval->callback([evalOptions] {
        const EvalOptions& o = *evalOptions;
        if (o.coverage.enabled)
            spcli::runCoverageEval(o.run, o.db, o.device, o.coverage);
        else
            runEval(o.run, o.db, o.device, o.queries, o.format);
    });

    auto benchModel = std::make_shared<std::string>("demo");
    auto benchDevice = std::make_shared<std::string>("cpu");
    auto benchDtype = std::make_shared<std::string>("float32");
    auto benchOptions = std::make_shared<sp::TrainBenchOptions>();
    CLI::App* bench = spcli::benchGroup(app).add_subcommand(
        "train", "σ-training speed, GEMM efficiency, teacher-cache speedup");
    auto benchRandom = std::make_shared<std::string>();
    bench
        ->add_option("--model", *benchModel,
                     "A model folder, \"demo\", or \"random\" (the same as --random tiny)")
        ->capture_default_str();
    bench->add_option("--random", *benchRandom,
                      "Benchmark a seeded random model of a published shape instead, fed byte-level text (" +
                          sp::joinStrings(sp::randomModelPresets(), ", ") + ")");
    bench->add_option("--device", *benchDevice, "cpu or cuda")->capture_default_str();
    bench->add_option("--dtype", *benchDtype, "float32, float16 or bfloat16 (on the CPU, half weights are computed in float32 blocks)")
        ->capture_default_str();
    bench->add_option("--steps", benchOptions->steps, "Training steps to time")->capture_default_str();
    bench->add_option("--k", benchOptions->k, "k")->capture_default_str();
    bench->add_option("--batch", benchOptions->batchSize, "Queries per step")->capture_default_str();
    bench->add_option("--context-tokens", benchOptions->contextTokens, "Context length in tokens")
        ->capture_default_str();
    bench->callback([=] { runBench(*benchModel, *benchRandom, *benchDevice, *benchDtype, *benchOptions); });
}

} // namespace

SP_REGISTER_CLI_COMMANDS(40, registerTrainCommands);
