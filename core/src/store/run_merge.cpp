// Merging run databases into one: the shards that the tasks of a Slurm sweep write (one SQLite file
// per task, because SQLite must never be written by several machines at once over NFS), or any
// run files a user wants in one place. Runs are matched by their global id (runs.uuid).
#include "store/schema.h"
#include "store/store_internal.h"

#include <filesystem>
#include <map>
#include <random>
#include <set>

namespace fs = std::filesystem;

namespace sp {

using store::Database;
using store::Statement;
using store::Transaction;

std::string newGlobalId()
{
    std::random_device device;
    unsigned char bytes[16];
    for (unsigned char& byte : bytes)
        byte = static_cast<unsigned char>(device() & 0xffu);
    bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0fu) | 0x40u); // version 4
    bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3fu) | 0x80u); // RFC 4122 variant
    static const char* const hex = "0123456789abcdef";
    std::string text;
    for (int i = 0; i < 16; ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            text += '-';
        text += hex[bytes[i] >> 4];
        text += hex[bytes[i] & 0x0f];
    }
    return text;
}

namespace {

template <typename Field>
int sum(const std::vector<ShardMergeResult>& shards, Field field)
{
    int total = 0;
    for (const ShardMergeResult& shard : shards)
        total += field(shard);
    return total;
}

} // namespace

int MergeResult::runsAdded() const
{
    return sum(shards, [](const ShardMergeResult& s) { return s.runsAdded; });
}
int MergeResult::runsUpdated() const
{
    return sum(shards, [](const ShardMergeResult& s) { return s.runsUpdated; });
}
int MergeResult::runsUnchanged() const
{
    return sum(shards, [](const ShardMergeResult& s) { return s.runsUnchanged; });
}
int MergeResult::runsStillRunning() const
{
    return sum(shards, [](const ShardMergeResult& s) { return s.runsStillRunning; });
}
int MergeResult::failedShards() const
{
    return sum(shards, [](const ShardMergeResult& s) { return s.error.empty() ? 0 : 1; });
}

namespace {

// Ids of the source ("shard") mapped onto this file ("main") through what identifies a row in
// every file: a context or query set by its content hash, a sweep by its global id.
const char* const kMappedContext = "(SELECT mc.id FROM main.contexts AS mc JOIN shard.contexts AS sc "
                                   "ON sc.hash = mc.hash WHERE sc.id = src.context_id)";
const char* const kMappedQuerySet = "(SELECT ms.id FROM main.query_sets AS ms JOIN shard.query_sets AS ss "
                                    "ON ss.hash = ms.hash WHERE ss.id = src.query_set_id)";
const char* const kMappedSweep = "(SELECT mw.id FROM main.sweeps AS mw JOIN shard.sweeps AS sw "
                                 "ON sw.uuid = mw.uuid WHERE sw.id = src.sweep_id)";
const char* const kMappedQuery =
    "(SELECT mq.id FROM main.queries AS mq JOIN main.query_sets AS ms ON ms.id = mq.query_set_id "
    "JOIN shard.queries AS sq ON sq.position = mq.position JOIN shard.query_sets AS ss "
    "ON ss.id = sq.query_set_id WHERE ss.hash = ms.hash AND sq.id = src.query_id)";
const char* const kSkipColumn = "";

std::vector<std::string> columnsOf(Database& database, const std::string& schema, const std::string& table)
{
    Statement statement(database, "PRAGMA " + schema + ".table_info(" + table + ")");
    std::vector<std::string> columns;
    while (statement.step())
        columns.push_back(statement.text(1));
    return columns;
}

// INSERT INTO main.<table> SELECT ... FROM shard.<table> AS src WHERE <where>: every column of this
// file's table that the source has is copied as it is, except those in `overrides` (column -> SQL
// expression, or kSkipColumn to leave it to its default). Built from both files' columns, so columns
// that later schema versions add are carried without this code knowing them.
std::string copyRowsSql(Database& database, const std::string& table,
                        const std::map<std::string, std::string>& overrides, const std::string& where)
{
    const std::vector<std::string> sourceList = columnsOf(database, "shard", table);
    const std::set<std::string> source(sourceList.begin(), sourceList.end());
    std::string columns, values;
    for (const std::string& column : columnsOf(database, "main", table)) {
        std::string value;
        if (const auto found = overrides.find(column); found != overrides.end())
            value = found->second;
        else if (source.count(column))
            value = "src.\"" + column + "\"";
        if (value.empty())
            continue;
        columns += (columns.empty() ? "\"" : ", \"") + column + "\"";
        values += (values.empty() ? "" : ", ") + value;
    }
    return "INSERT INTO main." + table + "(" + columns + ") SELECT " + values + " FROM shard." + table +
           " AS src WHERE " + where;
}

struct SourceRun {
    std::int64_t id = 0;
    std::string uuid;
    std::string status;
    std::int64_t lastStep = 0;
    std::optional<std::int64_t> endedAt;
};

// Detaches the source when the merge of one file ends, however it ends (after its transaction).
struct Attached {
    Database& database;
    Attached(Database& database, const std::string& path) : database(database)
    {
        Statement attach(database, "ATTACH DATABASE ? AS shard");
        attach.bind(1, path).run();
    }
    ~Attached()
    {
        try {
            database.exec("DETACH DATABASE shard", "closing a merged file");
        } catch (...) {
        }
    }
};

void mergeOne(Database& database, const StoreOptions& options, ShardMergeResult& result)
{
    const std::string& path = result.path;
    std::error_code error;
    if (!fs::exists(path, error))
        throw Error("no such file (its task may have failed before it started; see its log)");
    if (!fs::is_regular_file(path, error))
        throw Error("not a regular file; pass run database files (a folder is searched for *.sqlite)");
    if (fs::file_size(path, error) == 0)
        throw Error("empty file (its task was killed before it stored anything)");
    if (fs::equivalent(path, database.path(), error))
        throw Error("is the database being merged into");
    // Opened as a store first: checked, migrated to this schema, and a run whose writer is gone is
    // marked interrupted there (keeping its curve and last σ), so it arrives interrupted.
    { RunStore::open(path, options); }

    Attached attached(database, path);
    Transaction transaction(database, "merging " + path);
    database.exec("INSERT OR IGNORE INTO main.contexts(hash, text, created_at) "
                  "SELECT hash, text, created_at FROM shard.contexts",
                  "merging contexts");
    database.exec("INSERT OR IGNORE INTO main.context_token_counts(context_id, model_hash, token_count) "
                  "SELECT mc.id, t.model_hash, t.token_count FROM shard.context_token_counts AS t "
                  "JOIN shard.contexts AS sc ON sc.id = t.context_id JOIN main.contexts AS mc ON mc.hash = sc.hash",
                  "merging context token counts");
    database.exec("INSERT INTO main.query_sets(name, hash, created_at) SELECT name, hash, created_at "
                  "FROM shard.query_sets AS s WHERE NOT EXISTS(SELECT 1 FROM main.query_sets AS m "
                  "WHERE m.hash = s.hash)",
                  "merging query sets");
    database.exec("INSERT OR IGNORE INTO main.queries(query_set_id, position, text, target, held_out) "
                  "SELECT ms.id, q.position, q.text, q.target, q.held_out FROM shard.queries AS q "
                  "JOIN shard.query_sets AS ss ON ss.id = q.query_set_id "
                  "JOIN main.query_sets AS ms ON ms.hash = ss.hash",
                  "merging queries");
    database.exec("INSERT OR IGNORE INTO main.metric_names(name) SELECT name FROM shard.metric_names",
                  "merging metric names");
    database.exec(copyRowsSql(database, "sweeps", {{"id", kSkipColumn}, {"context_id", kMappedContext}},
                              "src.uuid NOT IN (SELECT uuid FROM main.sweeps WHERE uuid IS NOT NULL)"),
                  "merging sweeps");

    std::vector<SourceRun> runs;
    {
        Statement select(database, "SELECT id, uuid, status, last_step, ended_at FROM shard.runs ORDER BY id");
        while (select.step())
            runs.push_back({select.integer(0), select.text(1), select.text(2), select.integer(3),
                            select.optionalInteger(4)});
    }
    Statement existing(database, "SELECT id, status, last_step, ended_at FROM main.runs WHERE uuid = ?");
    Statement idTaken(database, "SELECT 1 FROM main.runs WHERE id = ?");
    Statement nextId(database, "SELECT COALESCE(MAX(id), 0) + 1 FROM main.runs");
    Statement remove(database, "DELETE FROM main.runs WHERE id = ?");
    Statement copyRun(database, copyRowsSql(database, "runs",
                                            {{"id", "?1"},
                                             {"context_id", kMappedContext},
                                             {"query_set_id", kMappedQuerySet},
                                             {"sweep_id", kMappedSweep}},
                                            "src.id = ?2"));
    Statement copyMetrics(database,
                          "INSERT INTO main.metrics(run_id, metric_id, step, value) SELECT ?1, mn.id, m.step, "
                          "m.value FROM shard.metrics AS m JOIN shard.metric_names AS sn ON sn.id = m.metric_id "
                          "JOIN main.metric_names AS mn ON mn.name = sn.name WHERE m.run_id = ?2");
    Statement copyCheckpoints(database,
                              copyRowsSql(database, "checkpoints", {{"run_id", "?1"}}, "src.run_id = ?2"));
    Statement copyEvaluations(
        database, copyRowsSql(database, "evaluations",
                              {{"id", kSkipColumn}, {"run_id", "?1"}, {"query_id", kMappedQuery}},
                              "src.run_id = ?2"));
    Statement copyTags(database, "INSERT OR IGNORE INTO main.run_tags(run_id, tag) SELECT ?1, tag "
                                 "FROM shard.run_tags WHERE run_id = ?2");
    // The run's prompt format and rendered pieces: a run trained in the chat format keeps it.
    Statement copyPrompt(database,
                         copyRowsSql(database, "run_prompts", {{"run_id", "?1"}}, "src.run_id = ?2"));
    for (const SourceRun& run : runs) {
        if (run.status == "running") {
            ++result.runsStillRunning;
            continue;
        }
        std::int64_t targetId = 0;
        existing.bind(1, run.uuid);
        if (existing.step()) {
            const bool same = existing.text(1) == run.status && existing.integer(2) == run.lastStep &&
                              existing.optionalInteger(3) == run.endedAt;
            targetId = existing.integer(0);
            existing.reset();
            if (same) {
                ++result.runsUnchanged;
                continue;
            }
            remove.bind(1, targetId).run(); // its curve, σ, evaluations and tags go with it
            remove.reset();
            ++result.runsUpdated;
        } else {
            existing.reset();
            idTaken.bind(1, run.id);
            const bool taken = idTaken.step();
            idTaken.reset();
            if (taken) {
                nextId.step();
                targetId = nextId.integer(0);
                nextId.reset();
                result.remappedIds.emplace_back(run.id, targetId);
            } else {
                targetId = run.id;
            }
            ++result.runsAdded;
        }
        for (Statement* copy : {&copyRun, &copyMetrics, &copyCheckpoints, &copyEvaluations, &copyTags, &copyPrompt}) {
            copy->bind(1, targetId).bind(2, run.id).run();
            copy->reset();
        }
        if (run.status == "interrupted")
            ++result.runsInterrupted;
    }
    transaction.commit();
}

} // namespace

MergeResult RunStore::merge(const std::vector<std::string>& sourcePaths)
{
    MergeResult merged;
    for (const std::string& path : sourcePaths) {
        ShardMergeResult result;
        result.path = path;
        try {
            mergeOne(impl_->database, impl_->options, result);
        } catch (const std::exception& failure) {
            result = ShardMergeResult{}; // its transaction was rolled back: nothing of it arrived
            result.path = path;
            result.error = failure.what();
        }
        merged.shards.push_back(std::move(result));
    }
    return merged;
}

std::optional<std::int64_t> RunStore::findRunByUuid(const std::string& uuid) const
{
    Statement statement(impl_->database, "SELECT id FROM runs WHERE uuid = ?");
    statement.bind(1, uuid);
    return statement.step() ? std::optional<std::int64_t>(statement.integer(0)) : std::nullopt;
}

std::optional<std::int64_t> RunStore::findSweepByUuid(const std::string& uuid) const
{
    Statement statement(impl_->database, "SELECT id FROM sweeps WHERE uuid = ?");
    statement.bind(1, uuid);
    return statement.step() ? std::optional<std::int64_t>(statement.integer(0)) : std::nullopt;
}

std::int64_t RunStore::findOrCreateSweep(const std::string& uuid, const std::string& name,
                                         const nlohmann::json& baseConfig, std::optional<std::int64_t> contextId,
                                         const std::string& notes)
{
    if (uuid.empty())
        return createSweep(name, baseConfig, contextId, notes);
    Database& database = impl_->database;
    Transaction transaction(database, "storing a sweep");
    if (std::optional<std::int64_t> found = findSweepByUuid(uuid))
        return *found; // rolled back: nothing was written
    Statement insert(database, "INSERT INTO sweeps(name, created_at, context_id, base_config, notes, uuid) "
                               "VALUES(?, ?, ?, ?, ?, ?)");
    insert.bind(1, name).bind(2, store::nowMilliseconds()).bind(3, contextId).bind(4, baseConfig.dump());
    insert.bind(5, notes).bind(6, uuid).run();
    const std::int64_t id = database.lastInsertRowId();
    transaction.commit();
    return id;
}

void RunStore::setSweepConfig(std::int64_t sweepId, const nlohmann::json& baseConfig)
{
    Statement statement(impl_->database, "UPDATE sweeps SET base_config = ? WHERE id = ?");
    statement.bind(1, baseConfig.dump()).bind(2, sweepId).run();
    if (impl_->database.changes() == 0)
        throw Error("no sweep " + std::to_string(sweepId) + " in " + impl_->path);
}

} // namespace sp
