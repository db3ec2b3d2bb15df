#pragma once
// The run store: every training run, its curve, its σ checkpoints and its evaluations, kept in one
// SQLite file shared by the GUI and the CLI (sp::defaultDatabasePath(), `--db` overrides).
// Torch-free and Qt-free.
//
// Guarantees:
//   - WAL + busy timeout: the GUI and the CLI may read and write the same file at once.
//   - A writer killed with SIGKILL leaves a consistent file; the next open marks its run
//     `interrupted` (never a run whose process is still alive), keeps the curve up to the last flush
//     (at most ~1 s of curve is ever at risk) and the last σ checkpoint.
//   - A corrupt, locked, read-only or newer-schema file is an sp::Error that says what to do, and
//     the file is left byte for byte as it was.
//   - A full disk is an sp::Error; what was committed stays, and what was pending is kept in memory
//     so a later flush() can still write it.
//
// Threads: a RunStore is used by one thread at a time (the GUI's main thread, the CLI). A RunWriter
// owns its own connection and may live on the training thread while the RunStore is used elsewhere.
#include "softprompt/model_handle.h" // TokenProbability
#include "softprompt/soft_prompt.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sp {

// Metric names the engine's StepReport fields are stored under, so the GUI and the CLI agree.
namespace metric_key {
inline constexpr const char* TrainS = "train_s";
inline constexpr const char* TrainTop1 = "train_top1";
inline constexpr const char* HeldoutS = "heldout_s";
inline constexpr const char* HeldoutTop1 = "heldout_top1";
inline constexpr const char* LearningRate = "learning_rate";
inline constexpr const char* GradNorm = "grad_norm";
inline constexpr const char* StepSeconds = "step_seconds";
inline constexpr const char* TokensPerSecond = "tokens_per_second";
} // namespace metric_key

struct StoreOptions {
    int busyTimeoutMs = 5000;        // how long a write waits for another process's write to finish
    int flushIntervalMs = 1000;      // RunWriter: the most curve time that is ever uncommitted
    int heartbeatIntervalMs = 10000; // RunWriter: liveness stamp while nothing else is written
    // Largest database size in pages (0 = no limit). Tests use it to produce a real SQLITE_FULL.
    std::int64_t maxPageCount = 0;
};

// ---- records -------------------------------------------------------------------------------------
struct ModelIdentity {
    std::string path; // the model folder, or "demo"
    std::string hash; // ModelSummary::identity
    nlohmann::json summary =
        nlohmann::json::object(); // ModelSummary fields (name, hiddenSize, numHeads, numLayers, ...)
};

// The ModelSummary fields recorded with a run (keys: name, path, modelType, identity, parameterCount,
// contextWindow, vocabSize, hiddenSize, numLayers, numHeads, device, dtype), and the identity
// (path, identity hash, that summary) to pass in NewRun::model.
nlohmann::json modelSummaryToJson(const ModelSummary& summary);
ModelIdentity modelIdentityOf(const ModelSummary& summary);

struct ContextRecord {
    std::int64_t id = 0;
    std::string text;
    std::string hash; // sha256 of the UTF-8 text
    std::int64_t createdAtMs = 0;
};

struct StoredQuery {
    std::int64_t id = 0; // 0 until stored
    std::string text;
    std::string target; // optional expected answer ("" = none)
    bool heldOut = false;
};

struct QuerySetRecord {
    std::int64_t id = 0;
    std::string name;
    std::string hash; // over the queries, so the same set is stored once
    std::int64_t createdAtMs = 0;
    std::vector<StoredQuery> queries; // in their original order
};

// Who is writing a running run; used to tell a live writer from one that was killed.
struct RunOwner {
    std::int64_t pid = 0;
    std::string host;
    std::int64_t heartbeatAtMs = 0; // last sign of life
};

struct NewRun {
    std::string name;                                 // optional label shown in the runs browser
    nlohmann::json config = nlohmann::json::object(); // the full TrainConfig::toJson()
    ModelIdentity model;
    std::string device;                     // "cpu", "cuda:0"
    std::optional<std::int64_t> contextId;  // from putContext()
    std::optional<std::int64_t> querySetId; // from putQuerySet()
    std::optional<std::int64_t> sweepId;    // from createSweep(), for runs of a compression sweep
    std::vector<std::string> tags;
    std::string notes;
    std::string promptFormat = "plain";                     // "plain" or "chat" (softprompt/prompt_format.h)
    nlohmann::json promptPieces = nlohmann::json::object(); // promptPiecesToJson(): the rendered layout
};

struct RunRecord {
    std::int64_t id = 0;   // local to this database file
    std::string uuid;      // global: the same run in every database it was merged into
    std::string name;
    RunStatus status = RunStatus::Running;
    nlohmann::json config = nlohmann::json::object();
    ModelIdentity model;
    std::string device;
    std::optional<std::int64_t> contextId;
    std::optional<std::int64_t> querySetId;
    std::optional<std::int64_t> sweepId;
    std::int64_t startedAtMs = 0;  // milliseconds since the Unix epoch, UTC
    std::int64_t endedAtMs = 0;    // 0 while running
    std::string error;             // failed/interrupted: what happened and what to do
    std::vector<std::string> tags; // sorted
    std::string notes;
    RunOwner owner;
    int lastStep = 0;                                      // the last step with a stored metric
    nlohmann::json lastMetrics = nlohmann::json::object(); // metric -> its last stored value
    nlohmann::json summary = nlohmann::json::object();     // final results set by RunWriter::setSummary
    std::string promptFormat = "plain";                     // runs from before prompt formats read "plain"
    nlohmann::json promptPieces = nlohmann::json::object(); // promptPiecesToJson()
    std::optional<int> lastCheckpointStep;
};

struct RunFilter {
    std::string text; // substring of name, notes, tags, model path or device (case-insensitive)
    std::optional<RunStatus> status;
    std::string tag; // runs that carry this tag
    std::string modelHash;
    std::optional<std::int64_t> sweepId;
    std::optional<std::int64_t> contextId;
    int limit = 0; // 0 = all
    int offset = 0;
    // Newest first (by start time) unless false.
    bool newestFirst = true;
};

struct MetricCurve {
    std::int64_t runId = 0;
    std::string metric;
    std::vector<int> steps;     // ascending
    std::vector<double> values; // same length as steps
};

struct MetricSummary {
    std::string metric;
    int points = 0;
    int firstStep = 0, lastStep = 0;
    double first = 0.0, last = 0.0;
    double min = 0.0, max = 0.0;
    int minStep = 0, maxStep = 0;
};

struct CheckpointInfo {
    int step = 0;
    std::int64_t bytes = 0; // size of the stored safetensors
    std::int64_t createdAtMs = 0;
};

struct StoredEvaluation {
    std::int64_t id = 0;
    std::int64_t runId = 0;
    std::optional<std::int64_t> queryId; // a query of the run's query set, when known
    std::string query;                   // kept even when the query set is gone
    std::string target;
    bool heldOut = false;
    std::string condition; // conditionKey(): "full", "sigma", "none", "first_k", "last_k", "pruned"
    std::string prediction;
    double s = 0.0;
    std::vector<TokenProbability> topK; // first position
    nlohmann::json details =
        nlohmann::json::object(); // kl, top1_agrees, teacher_nll, exact_match, per_token_divergence, ...
    int sigmaStep = 0;            // the σ checkpoint step evaluated (0 = none / baseline)
};

struct ConfigDifference {
    std::string key;     // JSON pointer, e.g. "/config/learningRate", "/model/hash", "/device"
    nlohmann::json left; // null when absent on that side
    nlohmann::json right;
};

struct SweepRecord {
    std::int64_t id = 0;
    std::string uuid; // global, like RunRecord::uuid
    std::string name;
    std::int64_t createdAtMs = 0;
    std::optional<std::int64_t> contextId;
    nlohmann::json baseConfig = nlohmann::json::object();
    std::string notes;
    std::vector<std::int64_t> runIds; // ascending
};

// One run of a sweep, for fidelity-against-compression plots.
struct StoredSweepPoint {
    std::int64_t runId = 0;
    int k = 0;                     // config "k"
    int contextTokens = 0;         // from setContextTokenCount for the run's model (0 = unknown)
    double compressionRatio = 0.0; // contextTokens / k (0 when unknown)
    RunStatus status = RunStatus::Running;
    bool hasValue = false;                   // false when the run has no point of that metric
    double last = 0.0, min = 0.0, max = 0.0; // of the requested metric
};

// ---- PEFT prompt-tuning adapters -------------------------------------------------------------------
// adapter_config.json + adapter_model.safetensors (one F32 "prompt_embeddings" [k, d], metadata
// {"format": "pt"}), loadable with peft's PeftModel.from_pretrained.
struct PeftAdapter {
    SoftPrompt sigma;
    std::string baseModelNameOrPath;
    int numAttentionHeads = 0;
    int numLayers = 0;
    std::string promptTuningInit = "RANDOM";          // "TEXT" or "RANDOM"
    std::string promptTuningInitText;                 // with "TEXT"
    std::string tokenizerNameOrPath;                  // with "TEXT"
    nlohmann::json config = nlohmann::json::object(); // the adapter_config.json as read/written
};
// Writes both files (each atomically). Throws sp::Error naming the folder.
void writePeftAdapter(const std::string& directory, const PeftAdapter& adapter);
// Throws sp::Error naming the file and what is wrong (not PROMPT_TUNING, shape mismatch, ...).
PeftAdapter readPeftAdapter(const std::string& directory);

// ---- merging run databases --------------------------------------------------------------------------
// A random version-4 UUID ("xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx").
std::string newGlobalId();

// What RunStore::merge did with one source file.
struct ShardMergeResult {
    std::string path;
    int runsAdded = 0;     // new here
    int runsUpdated = 0;   // already here with an older state (e.g. interrupted, now finished)
    int runsUnchanged = 0; // already here, the same
    int runsStillRunning = 0; // their writer is alive: not merged, merge again once it ends
    int runsInterrupted = 0;  // merged with status interrupted (their writer was killed)
    std::vector<std::pair<std::int64_t, std::int64_t>> remappedIds; // (id in the source, id here)
    std::string error; // the file could not be merged (missing, not a run database, ...): why
};

struct MergeResult {
    std::vector<ShardMergeResult> shards;
    int runsAdded() const;
    int runsUpdated() const;
    int runsUnchanged() const;
    int runsStillRunning() const;
    int failedShards() const;
};

// ---- writing a run ---------------------------------------------------------------------------------
// Created by RunStore::startRun. Metrics are buffered and committed in batches: by a background
// flush every StoreOptions::flushIntervalMs, at every checkpoint and at finish(). Never one
// transaction per step.
class RunWriter {
public:
    ~RunWriter(); // an unfinished run is flushed and finished as failed ("stopped without a result")
    RunWriter(const RunWriter&) = delete;
    RunWriter& operator=(const RunWriter&) = delete;

    std::int64_t runId() const;

    // Buffered; cheap. Throws sp::Error when an earlier background flush failed for a reason other
    // than a busy database (e.g. the disk is full); the points stay buffered.
    void addMetric(int step, const std::string& metric, double value);
    void addMetrics(int step, const std::vector<std::pair<std::string, double>>& values);

    // Commits buffered metrics now (one transaction). Throws sp::Error; nothing is dropped.
    void flush();
    // Stores σ at `step` together with every buffered metric (one transaction). Same step twice
    // replaces the earlier σ.
    void checkpoint(int step, const SoftPrompt& sigma);
    void addEvaluations(const std::vector<StoredEvaluation>& evaluations); // runId is filled in
    // Merged into the run's summary JSON (final held-out aggregates, initial/final s, ...).
    void setSummary(const nlohmann::json& summary);
    // Flushes, then records the final status, end time and error text. Call once.
    void finish(RunStatus status, const std::string& error = {});

    int lastCommittedStep() const;   // largest step whose metrics are committed (0 = none)
    std::int64_t flushCount() const; // committed metric transactions so far

    struct Impl;
    explicit RunWriter(std::unique_ptr<Impl> impl);

private:
    std::unique_ptr<Impl> impl_;
};

// ---- the store ------------------------------------------------------------------------------------
class RunStore {
public:
    // Opens (creating it and its folder when missing) and migrates to the current schema; then
    // marks runs whose writer is gone as interrupted. Throws sp::Error for a corrupt, locked,
    // read-only or newer-schema file, leaving it untouched.
    static RunStore open(const std::string& path, const StoreOptions& options = {});
    static RunStore openDefault(const StoreOptions& options = {}); // defaultDatabasePath()

    RunStore(RunStore&&) noexcept;
    RunStore& operator=(RunStore&&) noexcept;
    ~RunStore();

    const std::string& path() const;
    static int currentSchemaVersion();
    int schemaVersion() const;

    // ---- contexts and query sets (deduplicated by content hash) ----
    std::int64_t putContext(const std::string& text);
    ContextRecord context(std::int64_t id) const;
    std::vector<ContextRecord> listContexts() const;
    void setContextTokenCount(std::int64_t contextId, const std::string& modelHash, int tokenCount);
    std::optional<int> contextTokenCount(std::int64_t contextId, const std::string& modelHash) const;

    std::int64_t putQuerySet(const std::string& name, const std::vector<StoredQuery>& queries);
    QuerySetRecord querySet(std::int64_t id) const;
    std::vector<QuerySetRecord> listQuerySets() const; // without their queries

    // ---- runs ----
    std::unique_ptr<RunWriter> startRun(const NewRun& run);
    RunRecord run(std::int64_t id) const; // throws sp::Error("no run N ...") when absent
    std::optional<RunRecord> findRun(std::int64_t id) const;
    std::vector<RunRecord> listRuns(const RunFilter& filter = {}) const;
    std::vector<std::string> allTags() const;
    void setTags(std::int64_t runId, const std::vector<std::string>& tags);
    void setNotes(std::int64_t runId, const std::string& notes);
    void setName(std::int64_t runId, const std::string& name);
    // Removes the run with its curve, checkpoints and evaluations. A run whose writer is alive is
    // refused (cancel it first).
    void deleteRun(std::int64_t runId);
    // Marks running runs whose writer is gone as interrupted; returns how many. open() calls it;
    // the runs browser may call it when it refreshes.
    int markInterruptedRuns();
    bool isWriterAlive(const RunRecord& run) const;

    // ---- curves ----
    std::vector<std::string> metricNames(std::int64_t runId) const;
    MetricCurve curve(std::int64_t runId, const std::string& metric) const;
    // Every (run, metric) pair that has points, runs in the given order, then metrics in that order.
    std::vector<MetricCurve> curves(const std::vector<std::int64_t>& runIds,
                                    const std::vector<std::string>& metrics) const;
    std::vector<MetricSummary> curveSummary(std::int64_t runId) const;
    // Wide CSV: a "step" column then one column per metric (empty where a step lacks it).
    void exportCurveCsv(std::int64_t runId, const std::string& path) const;

    // ---- σ ----
    std::vector<CheckpointInfo> checkpoints(std::int64_t runId) const;
    // The σ at `step` (the last checkpoint when absent). Throws sp::Error when the run has none.
    SoftPrompt loadSigma(std::int64_t runId, std::optional<int> step = std::nullopt) const;
    std::string sigmaSafetensors(std::int64_t runId, std::optional<int> step = std::nullopt) const;
    void exportSigma(std::int64_t runId, const std::string& path,
                     std::optional<int> step = std::nullopt) const;
    void exportPeft(std::int64_t runId, const std::string& directory,
                    std::optional<int> step = std::nullopt) const;
    // Stores the adapter as a finished run (tag "imported", σ as a checkpoint at step 0).
    std::int64_t importPeft(const std::string& directory);

    // ---- evaluations ----
    std::vector<StoredEvaluation> evaluations(std::int64_t runId) const;
    // Adds evaluations to a stored run whose writer is gone (a finished, cancelled, failed or
    // interrupted run; e.g. `softprompt eval --run`); runId is filled in. With replaceExisting the
    // run's earlier evaluations are removed in the same transaction, so a re-evaluation leaves one row
    // per query and condition. Throws sp::Error for an unknown run or one still being written (its
    // RunWriter adds its own evaluations).
    void addEvaluations(std::int64_t runId, const std::vector<StoredEvaluation>& evaluations,
                        bool replaceExisting = false);

    // ---- comparison and sweeps ----
    // Differences between two runs' configs, model identity, device and context.
    std::vector<ConfigDifference> diffRuns(std::int64_t leftRunId, std::int64_t rightRunId) const;
    std::int64_t createSweep(const std::string& name, const nlohmann::json& baseConfig,
                             std::optional<std::int64_t> contextId = std::nullopt,
                             const std::string& notes = {});
    SweepRecord sweep(std::int64_t id) const;
    std::vector<SweepRecord> listSweeps() const;
    // One point per run of the sweep, sorted by k; `metric` is usually metric_key::HeldoutS.
    std::vector<StoredSweepPoint> sweepPoints(std::int64_t sweepId, const std::string& metric) const;

    // ---- global ids and merging ----
    std::optional<std::int64_t> findRunByUuid(const std::string& uuid) const;
    std::optional<std::int64_t> findSweepByUuid(const std::string& uuid) const;
    // The sweep with this global id, created (with that id) when absent: the Slurm tasks of one
    // sweep each create it in their own shard, and merging maps them all onto one sweep.
    std::int64_t findOrCreateSweep(const std::string& uuid, const std::string& name,
                                   const nlohmann::json& baseConfig,
                                   std::optional<std::int64_t> contextId = std::nullopt,
                                   const std::string& notes = {});
    // Replaces a sweep's base config (e.g. to record its Slurm job ids after submission).
    void setSweepConfig(std::int64_t sweepId, const nlohmann::json& baseConfig);
    // Copies every run of each source database into this one, matched by global id: their
    // contexts, query sets, curves, σ checkpoints, evaluations, tags and sweeps come along (contexts
    // and query sets by content hash, sweeps by global id). Local ids that are taken here are
    // remapped. Idempotent: a run already here in the same state is left alone; one here in an
    // older state (e.g. it was merged while interrupted, and has finished since) is replaced.
    // Each source is opened as a run store first, so a run whose writer was killed arrives as
    // interrupted; a run whose writer is alive is skipped. One transaction per source; a source
    // that cannot be read is reported in its result and the others are still merged.
    MergeResult merge(const std::vector<std::string>& sourcePaths);

    struct Impl;

private:
    explicit RunStore(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

} // namespace sp
