// The run store: opening, contexts, query sets, runs and their liveness.
#include "store/schema.h"
#include "store/store_internal.h"

#include "softprompt/hash.h"
#include "softprompt/paths.h"
#include "softprompt/text.h"

#include <sqlite3.h>

#include <algorithm>
#include <set>

namespace sp {

using store::Database;
using store::Statement;
using store::Transaction;

namespace store {

const char* const kRunColumns =
    "id, name, status, config, model_path, model_hash, model_summary, device, context_id, query_set_id, "
    "sweep_id, started_at, ended_at, error, notes, owner_pid, owner_host, heartbeat_at, last_step, "
    "last_metrics, "
    "summary, (SELECT MAX(step) FROM checkpoints AS c WHERE c.run_id = runs.id), owner_boot_id, "
    "owner_pid_namespace, owner_start_ticks, uuid";

nlohmann::json parseStoredJson(const std::string& text, const std::string& what)
{
    nlohmann::json value = nlohmann::json::parse(text, nullptr, false);
    if (value.is_discarded())
        throw Error(what +
                    " is not valid JSON in the run database; the value was edited outside the workbench");
    return value;
}

RecordedWriter recordedWriter(Statement& row)
{
    RecordedWriter writer;
    writer.identity.pid = row.integer(15);
    writer.identity.host = row.text(16);
    writer.heartbeatAtMs = row.integer(17);
    writer.identity.bootId = row.text(22);
    writer.identity.pidNamespace = row.text(23);
    writer.identity.startTicks = row.integer(24);
    return writer;
}

RunRecord readRunRecord(Database& database, Statement& row)
{
    RunRecord run;
    run.id = row.integer(0);
    const std::string what = "run " + std::to_string(run.id);
    run.name = row.text(1);
    run.status = runStatusFromKey(row.text(2));
    run.config = parseStoredJson(row.text(3), what + " config");
    run.model.path = row.text(4);
    run.model.hash = row.text(5);
    run.model.summary = parseStoredJson(row.text(6), what + " model summary");
    run.device = row.text(7);
    run.contextId = row.optionalInteger(8);
    run.querySetId = row.optionalInteger(9);
    run.sweepId = row.optionalInteger(10);
    run.startedAtMs = row.integer(11);
    run.endedAtMs = row.integer(12);
    run.error = row.text(13);
    run.notes = row.text(14);
    run.owner.pid = row.integer(15);
    run.owner.host = row.text(16);
    run.owner.heartbeatAtMs = row.integer(17);
    run.lastStep = static_cast<int>(row.integer(18));
    run.lastMetrics = parseStoredJson(row.text(19), what + " last metrics");
    run.summary = parseStoredJson(row.text(20), what + " summary");
    if (!row.isNull(21))
        run.lastCheckpointStep = static_cast<int>(row.integer(21));
    run.uuid = row.text(25);
    Statement tags(database, "SELECT tag FROM run_tags WHERE run_id = ? ORDER BY tag");
    tags.bind(1, run.id);
    while (tags.step())
        run.tags.push_back(tags.text(0));
    Statement prompt(database, "SELECT format, pieces FROM run_prompts WHERE run_id = ?");
    prompt.bind(1, run.id);
    if (prompt.step()) {
        run.promptFormat = prompt.text(0);
        run.promptPieces = parseStoredJson(prompt.text(1), what + " prompt pieces");
    }
    return run;
}

std::vector<std::string> normalizedTags(const std::vector<std::string>& tags)
{
    std::set<std::string> unique;
    for (const std::string& tag : tags) {
        const std::string trimmed = trimWhitespace(tag);
        if (!trimmed.empty())
            unique.insert(trimmed);
    }
    return {unique.begin(), unique.end()};
}

void replaceTags(Database& database, std::int64_t runId, const std::vector<std::string>& tags)
{
    Statement remove(database, "DELETE FROM run_tags WHERE run_id = ?");
    remove.bind(1, runId).run();
    Statement insert(database, "INSERT INTO run_tags(run_id, tag) VALUES(?, ?)");
    for (const std::string& tag : normalizedTags(tags)) {
        insert.bind(1, runId).bind(2, tag).run();
        insert.reset();
    }
}

std::string runNotFound(std::int64_t runId, const std::string& path)
{
    return "no run " + std::to_string(runId) + " in " + path +
           "; `softprompt runs list` shows the runs it holds";
}

void requireRun(Database& database, std::int64_t runId)
{
    Statement statement(database, "SELECT 1 FROM runs WHERE id = ?");
    statement.bind(1, runId);
    if (!statement.step())
        throw Error(runNotFound(runId, database.path()));
}

nlohmann::json topKToJson(const std::vector<TokenProbability>& topK)
{
    nlohmann::json list = nlohmann::json::array();
    for (const TokenProbability& entry : topK)
        list.push_back({{"id", entry.id}, {"text", entry.text}, {"p", entry.probability}});
    return list;
}

void insertEvaluations(Database& database, std::int64_t runId, const std::vector<StoredEvaluation>& rows)
{
    Statement insert(
        database, "INSERT INTO evaluations(run_id, query_id, query, target, held_out, condition, prediction, "
                  "s, top_k, details, sigma_step) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    for (const StoredEvaluation& row : rows) {
        insert.bind(1, runId).bind(2, row.queryId).bind(3, row.query);
        insert.bind(4, row.target).bind(5, row.heldOut ? 1 : 0).bind(6, row.condition);
        insert.bind(7, row.prediction).bind(8, row.s);
        insert.bind(9, topKToJson(row.topK).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
        insert.bind(10, row.details.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
        insert.bind(11, row.sigmaStep).run();
        insert.reset();
    }
}

std::vector<TokenProbability> topKFromJson(const nlohmann::json& json)
{
    std::vector<TokenProbability> topK;
    for (const nlohmann::json& entry : json) {
        TokenProbability token;
        token.id = entry.value("id", 0);
        token.text = entry.value("text", std::string());
        token.probability = entry.value("p", 0.0);
        topK.push_back(std::move(token));
    }
    return topK;
}

} // namespace store

RunStore::RunStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RunStore::RunStore(RunStore&&) noexcept = default;
RunStore& RunStore::operator=(RunStore&&) noexcept = default;
RunStore::~RunStore() = default;

RunStore RunStore::open(const std::string& path, const StoreOptions& options)
{
    auto impl = std::make_unique<Impl>();
    impl->database = store::openStoreDatabase(path, options);
    impl->path = path;
    impl->options = options;
    RunStore runStore(std::move(impl));
    runStore.markInterruptedRuns();
    return runStore;
}

RunStore RunStore::openDefault(const StoreOptions& options)
{
    return open(defaultDatabasePath(), options);
}

const std::string& RunStore::path() const
{
    return impl_->path;
}

int RunStore::currentSchemaVersion()
{
    return store::kCurrentSchemaVersion;
}

int RunStore::schemaVersion() const
{
    return store::userVersion(impl_->database);
}

// ---- contexts and query sets ------------------------------------------------------------------------

std::int64_t RunStore::putContext(const std::string& text)
{
    const std::string hash = sha256Hex(text);
    Database& database = impl_->database;
    Transaction transaction(database, "storing a context");
    Statement insert(database, "INSERT OR IGNORE INTO contexts(hash, text, created_at) VALUES(?, ?, ?)");
    insert.bind(1, hash).bind(2, text).bind(3, store::nowMilliseconds()).run();
    Statement select(database, "SELECT id FROM contexts WHERE hash = ?");
    select.bind(1, hash);
    select.step();
    const std::int64_t id = select.integer(0);
    transaction.commit();
    return id;
}

namespace {

ContextRecord readContext(Statement& row)
{
    ContextRecord record;
    record.id = row.integer(0);
    record.text = row.text(1);
    record.hash = row.text(2);
    record.createdAtMs = row.integer(3);
    return record;
}

QuerySetRecord readQuerySetHeader(Statement& row)
{
    QuerySetRecord record;
    record.id = row.integer(0);
    record.name = row.text(1);
    record.hash = row.text(2);
    record.createdAtMs = row.integer(3);
    return record;
}

} // namespace

ContextRecord RunStore::context(std::int64_t id) const
{
    Statement statement(impl_->database, "SELECT id, text, hash, created_at FROM contexts WHERE id = ?");
    statement.bind(1, id);
    if (!statement.step())
        throw Error("no context " + std::to_string(id) + " in " + impl_->path);
    return readContext(statement);
}

std::vector<ContextRecord> RunStore::listContexts() const
{
    Statement statement(impl_->database, "SELECT id, text, hash, created_at FROM contexts ORDER BY id");
    std::vector<ContextRecord> records;
    while (statement.step())
        records.push_back(readContext(statement));
    return records;
}

void RunStore::setContextTokenCount(std::int64_t contextId, const std::string& modelHash, int tokenCount)
{
    Statement statement(impl_->database,
                        "INSERT OR REPLACE INTO context_token_counts(context_id, model_hash, "
                        "token_count) VALUES(?, ?, ?)");
    statement.bind(1, contextId).bind(2, modelHash).bind(3, tokenCount).run();
}

std::optional<int> RunStore::contextTokenCount(std::int64_t contextId, const std::string& modelHash) const
{
    Statement statement(
        impl_->database,
        "SELECT token_count FROM context_token_counts WHERE context_id = ? AND model_hash = ?");
    statement.bind(1, contextId).bind(2, modelHash);
    if (!statement.step())
        return std::nullopt;
    return static_cast<int>(statement.integer(0));
}

std::int64_t RunStore::putQuerySet(const std::string& name, const std::vector<StoredQuery>& queries)
{
    // The identity of a set is its queries in order (text, target, held-out), not its name.
    nlohmann::json content = nlohmann::json::array();
    for (const StoredQuery& query : queries)
        content.push_back({query.text, query.target, query.heldOut});
    const std::string hash = sha256Hex(content.dump());
    Database& database = impl_->database;
    Transaction transaction(database, "storing a query set");
    Statement select(database, "SELECT id FROM query_sets WHERE hash = ?");
    select.bind(1, hash);
    if (select.step())
        return select.integer(0); // rolled back: nothing was written
    Statement insertSet(database, "INSERT INTO query_sets(name, hash, created_at) VALUES(?, ?, ?)");
    insertSet.bind(1, name).bind(2, hash).bind(3, store::nowMilliseconds()).run();
    const std::int64_t id = database.lastInsertRowId();
    Statement insert(
        database,
        "INSERT INTO queries(query_set_id, position, text, target, held_out) VALUES(?, ?, ?, ?, ?)");
    for (std::size_t position = 0; position < queries.size(); ++position) {
        const StoredQuery& query = queries[position];
        insert.bind(1, id)
            .bind(2, static_cast<std::int64_t>(position))
            .bind(3, query.text)
            .bind(4, query.target);
        insert.bind(5, query.heldOut ? 1 : 0).run();
        insert.reset();
    }
    transaction.commit();
    return id;
}

QuerySetRecord RunStore::querySet(std::int64_t id) const
{
    Database& database = impl_->database;
    Statement header(database, "SELECT id, name, hash, created_at FROM query_sets WHERE id = ?");
    header.bind(1, id);
    if (!header.step())
        throw Error("no query set " + std::to_string(id) + " in " + impl_->path);
    QuerySetRecord record = readQuerySetHeader(header);
    Statement rows(database,
                   "SELECT id, text, target, held_out FROM queries WHERE query_set_id = ? ORDER BY position");
    rows.bind(1, id);
    while (rows.step())
        record.queries.push_back({rows.integer(0), rows.text(1), rows.text(2), rows.integer(3) != 0});
    return record;
}

std::vector<QuerySetRecord> RunStore::listQuerySets() const
{
    Statement statement(impl_->database, "SELECT id, name, hash, created_at FROM query_sets ORDER BY id");
    std::vector<QuerySetRecord> records;
    while (statement.step())
        records.push_back(readQuerySetHeader(statement));
    return records;
}

// ---- runs ------------------------------------------------------------------------------------------

std::unique_ptr<RunWriter> RunStore::startRun(const NewRun& run)
{
    return store::makeRunWriter(impl_->path, impl_->options, run);
}

std::optional<RunRecord> RunStore::findRun(std::int64_t id) const
{
    Statement statement(impl_->database,
                        std::string("SELECT ") + store::kRunColumns + " FROM runs WHERE id = ?");
    statement.bind(1, id);
    if (!statement.step())
        return std::nullopt;
    return store::readRunRecord(impl_->database, statement);
}

RunRecord RunStore::run(std::int64_t id) const
{
    std::optional<RunRecord> record = findRun(id);
    if (!record)
        throw Error(store::runNotFound(id, impl_->path));
    return *record;
}

namespace {

std::string likePattern(const std::string& text)
{
    std::string pattern = "%";
    for (char c : text) {
        if (c == '%' || c == '_' || c == '\\')
            pattern += '\\';
        pattern += c;
    }
    return pattern + "%";
}

} // namespace

std::vector<RunRecord> RunStore::listRuns(const RunFilter& filter) const
{
    std::string sql = std::string("SELECT ") + store::kRunColumns + " FROM runs WHERE 1";
    if (!filter.text.empty())
        sql +=
            " AND (name LIKE ?1 ESCAPE '\\' OR notes LIKE ?1 ESCAPE '\\' OR model_path LIKE ?1 ESCAPE '\\' "
            "OR "
            "device LIKE ?1 ESCAPE '\\' OR EXISTS(SELECT 1 FROM run_tags AS t WHERE t.run_id = runs.id AND "
            "t.tag LIKE ?1 ESCAPE '\\'))";
    if (filter.status)
        sql += " AND status = ?2";
    if (!filter.tag.empty())
        sql += " AND EXISTS(SELECT 1 FROM run_tags AS t WHERE t.run_id = runs.id AND t.tag = ?3)";
    if (!filter.modelHash.empty())
        sql += " AND model_hash = ?4";
    if (filter.sweepId)
        sql += " AND sweep_id = ?5";
    if (filter.contextId)
        sql += " AND context_id = ?6";
    sql += filter.newestFirst ? " ORDER BY started_at DESC, id DESC" : " ORDER BY started_at, id";
    sql += " LIMIT ?7 OFFSET ?8";
    Statement statement(impl_->database, sql);
    if (!filter.text.empty())
        statement.bind(1, likePattern(filter.text));
    if (filter.status)
        statement.bind(2, runStatusKey(*filter.status));
    if (!filter.tag.empty())
        statement.bind(3, filter.tag);
    if (!filter.modelHash.empty())
        statement.bind(4, filter.modelHash);
    if (filter.sweepId)
        statement.bind(5, *filter.sweepId);
    if (filter.contextId)
        statement.bind(6, *filter.contextId);
    statement.bind(7, filter.limit > 0 ? static_cast<std::int64_t>(filter.limit) : std::int64_t(-1));
    statement.bind(8, static_cast<std::int64_t>(std::max(0, filter.offset)));
    std::vector<RunRecord> runs;
    while (statement.step())
        runs.push_back(store::readRunRecord(impl_->database, statement));
    return runs;
}

std::vector<std::string> RunStore::allTags() const
{
    Statement statement(impl_->database, "SELECT DISTINCT tag FROM run_tags ORDER BY tag");
    std::vector<std::string> tags;
    while (statement.step())
        tags.push_back(statement.text(0));
    return tags;
}

void RunStore::setTags(std::int64_t runId, const std::vector<std::string>& tags)
{
    Database& database = impl_->database;
    Transaction transaction(database, "editing tags");
    store::requireRun(database, runId);
    store::replaceTags(database, runId, tags);
    transaction.commit();
}

void RunStore::setNotes(std::int64_t runId, const std::string& notes)
{
    Statement statement(impl_->database, "UPDATE runs SET notes = ? WHERE id = ?");
    statement.bind(1, notes).bind(2, runId).run();
    if (impl_->database.changes() == 0)
        throw Error(store::runNotFound(runId, impl_->path));
}

void RunStore::setName(std::int64_t runId, const std::string& name)
{
    Statement statement(impl_->database, "UPDATE runs SET name = ? WHERE id = ?");
    statement.bind(1, name).bind(2, runId).run();
    if (impl_->database.changes() == 0)
        throw Error(store::runNotFound(runId, impl_->path));
}

bool RunStore::isWriterAlive(const RunRecord& run) const
{
    if (run.status != RunStatus::Running)
        return false;
    Statement statement(impl_->database,
                        std::string("SELECT ") + store::kRunColumns + " FROM runs WHERE id = ?");
    statement.bind(1, run.id);
    if (!statement.step())
        return false;
    return store::isWriterAlive(store::recordedWriter(statement), impl_->options.heartbeatIntervalMs,
                                store::nowMilliseconds());
}

namespace {

// Throws sp::Error (saying `whatToDo`) for an unknown run or one whose writer is still alive.
void requireWriterGone(const RunStore& store, std::int64_t runId, const std::string& whatToDo)
{
    const RunRecord record = store.run(runId);
    if (record.status == RunStatus::Running && store.isWriterAlive(record))
        throw Error("run " + std::to_string(runId) + " is still being written by process " +
                    std::to_string(record.owner.pid) + " on " + record.owner.host + "; " + whatToDo);
}

} // namespace

void RunStore::deleteRun(std::int64_t runId)
{
    Database& database = impl_->database;
    Transaction transaction(database, "deleting a run");
    requireWriterGone(*this, runId, "cancel that training first, then delete the run");
    Statement statement(database, "DELETE FROM runs WHERE id = ?");
    statement.bind(1, runId).run();
    transaction.commit();
}

void RunStore::addEvaluations(std::int64_t runId, const std::vector<StoredEvaluation>& evaluations,
                              bool replaceExisting)
{
    Database& database = impl_->database;
    Transaction transaction(database, "saving evaluations");
    requireWriterGone(*this, runId, "evaluate it once that training has ended");
    if (replaceExisting) {
        Statement remove(database, "DELETE FROM evaluations WHERE run_id = ?");
        remove.bind(1, runId).run();
    }
    store::insertEvaluations(database, runId, evaluations);
    transaction.commit();
}

int RunStore::markInterruptedRuns()
{
    Database& database = impl_->database;
    const std::int64_t now = store::nowMilliseconds();
    std::vector<std::pair<std::int64_t, std::int64_t>> gone; // run id, last sign of life
    {
        Statement statement(database, std::string("SELECT ") + store::kRunColumns +
                                          " FROM runs WHERE status = 'running'");
        while (statement.step()) {
            const store::RecordedWriter writer = store::recordedWriter(statement);
            if (!store::isWriterAlive(writer, impl_->options.heartbeatIntervalMs, now))
                gone.emplace_back(statement.integer(0),
                                  std::max(writer.heartbeatAtMs, statement.integer(11)));
        }
    }
    if (gone.empty())
        return 0;
    // A writer died. SQLite's journal keeps the file consistent through that, but this is the one
    // moment a full check is worth its cost (it reads every page): a damaged file is reported, not
    // written to.
    {
        Statement check(database, "PRAGMA quick_check");
        const std::string verdict = check.step() ? check.text(0) : std::string("no answer");
        if (verdict != "ok")
            throw store::DatabaseError(store::describeSqliteFailure(impl_->path, SQLITE_CORRUPT, verdict,
                                                                    "checking it after a crashed run", 0),
                                       SQLITE_CORRUPT);
    }
    Transaction transaction(database, "marking interrupted runs");
    int marked = 0;
    for (const auto& [runId, lastSeen] : gone) {
        Statement details(database, "SELECT last_step, (SELECT MAX(step) FROM checkpoints WHERE run_id = ?1) "
                                    "FROM runs WHERE id = ?1");
        details.bind(1, runId);
        if (!details.step())
            continue;
        std::string error = "the program writing this run stopped before it finished (killed, crashed or the "
                            "machine restarted) after step " +
                            std::to_string(details.integer(0)) + "; the curve up to its last save";
        error += details.isNull(1)
                     ? std::string(" is kept (it had no σ checkpoint yet)")
                     : " and the σ checkpoint of step " + std::to_string(details.integer(1)) + " are kept";
        // `status = 'running'` again: another process may have finished or marked it meanwhile.
        Statement update(database, "UPDATE runs SET status = 'interrupted', ended_at = ?, error = ? "
                                   "WHERE id = ? AND status = 'running'");
        update.bind(1, lastSeen).bind(2, error).bind(3, runId).run();
        marked += database.changes();
    }
    transaction.commit();
    return marked;
}

} // namespace sp
