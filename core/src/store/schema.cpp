#include "store/schema.h"

#include "softprompt/text.h"

#include <nlohmann/json.hpp>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <filesystem>
#include <map>

namespace fs = std::filesystem;

namespace sp::store {
namespace {

// Version 1: the first layout. Tags were a comma-separated column of runs.
const char* const kSchemaV1 = R"sql(
CREATE TABLE contexts(
    id INTEGER PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    text TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE context_token_counts(
    context_id INTEGER NOT NULL REFERENCES contexts(id) ON DELETE CASCADE,
    model_hash TEXT NOT NULL,
    token_count INTEGER NOT NULL,
    PRIMARY KEY(context_id, model_hash)
) WITHOUT ROWID;
CREATE TABLE query_sets(
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);
CREATE TABLE queries(
    id INTEGER PRIMARY KEY,
    query_set_id INTEGER NOT NULL REFERENCES query_sets(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    text TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    held_out INTEGER NOT NULL CHECK(held_out IN (0, 1)),
    UNIQUE(query_set_id, position)
);
CREATE TABLE runs(
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL CHECK(status IN ('running', 'finished', 'cancelled', 'failed', 'interrupted')),
    config TEXT NOT NULL,
    model_path TEXT NOT NULL,
    model_hash TEXT NOT NULL,
    model_summary TEXT NOT NULL,
    device TEXT NOT NULL,
    context_id INTEGER REFERENCES contexts(id) ON DELETE RESTRICT,
    query_set_id INTEGER REFERENCES query_sets(id) ON DELETE RESTRICT,
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    error TEXT NOT NULL DEFAULT '',
    tags TEXT NOT NULL DEFAULT '',
    notes TEXT NOT NULL DEFAULT '',
    owner_pid INTEGER,
    owner_host TEXT,
    owner_boot_id TEXT,
    owner_pid_namespace TEXT,
    owner_start_ticks INTEGER,
    heartbeat_at INTEGER
);
CREATE INDEX runs_by_status ON runs(status);
CREATE INDEX runs_by_context ON runs(context_id);
CREATE INDEX runs_by_query_set ON runs(query_set_id);
CREATE TABLE metric_names(
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
-- Clustered by (run, metric, step): a curve is one contiguous range of the b-tree.
CREATE TABLE metrics(
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    metric_id INTEGER NOT NULL REFERENCES metric_names(id),
    step INTEGER NOT NULL,
    value REAL,
    PRIMARY KEY(run_id, metric_id, step)
) WITHOUT ROWID;
CREATE TABLE checkpoints(
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    step INTEGER NOT NULL,
    sigma BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY(run_id, step)
);
CREATE TABLE evaluations(
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    query_id INTEGER REFERENCES queries(id) ON DELETE SET NULL,
    query TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    held_out INTEGER NOT NULL CHECK(held_out IN (0, 1)),
    condition TEXT NOT NULL,
    prediction TEXT NOT NULL,
    s REAL,
    top_k TEXT NOT NULL,
    details TEXT NOT NULL,
    sigma_step INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX evaluations_by_run ON evaluations(run_id);
CREATE INDEX evaluations_by_query ON evaluations(query_id);
)sql";

// Version 2: compression sweeps, tags as rows (filterable), per-run summary and the last values of
// each metric (so the runs list needs no curve scan).
const char* const kSchemaV2 = R"sql(
CREATE TABLE sweeps(
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    context_id INTEGER REFERENCES contexts(id) ON DELETE SET NULL,
    base_config TEXT NOT NULL,
    notes TEXT NOT NULL DEFAULT ''
);
ALTER TABLE runs ADD COLUMN sweep_id INTEGER REFERENCES sweeps(id) ON DELETE SET NULL;
ALTER TABLE runs ADD COLUMN summary TEXT NOT NULL DEFAULT '{}';
ALTER TABLE runs ADD COLUMN last_step INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN last_metrics TEXT NOT NULL DEFAULT '{}';
CREATE INDEX runs_by_sweep ON runs(sweep_id);
CREATE TABLE run_tags(
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY(run_id, tag)
) WITHOUT ROWID;
CREATE INDEX run_tags_by_tag ON run_tags(tag);
)sql";

void migrateToVersion2(Database& database)
{
    database.exec(kSchemaV2, "upgrading the schema to version 2");
    // Move the comma-separated tags of version 1 into run_tags; the old column stays (unused) so
    // that the migration needs no table rebuild.
    {
        Statement select(database, "SELECT id, tags FROM runs WHERE tags <> ''");
        Statement insert(database, "INSERT OR IGNORE INTO run_tags(run_id, tag) VALUES(?, ?)");
        while (select.step()) {
            const std::int64_t runId = select.integer(0);
            for (const std::string& part : splitString(select.text(1), ',')) {
                const std::string tag = trimWhitespace(part);
                if (tag.empty())
                    continue;
                insert.bind(1, runId).bind(2, tag);
                insert.run();
                insert.reset();
            }
        }
    }
    database.exec("UPDATE runs SET tags = ''", "upgrading the schema to version 2");
    // Fill the last step and last value of each metric from the curves.
    Statement runs(database, "SELECT id FROM runs");
    Statement lastValues(database, R"sql(
        SELECT n.name, m.value, m.step FROM metrics AS m JOIN metric_names AS n ON n.id = m.metric_id
        WHERE m.run_id = ?1 AND m.step = (SELECT MAX(step) FROM metrics WHERE run_id = ?1 AND metric_id = m.metric_id))sql");
    Statement update(database, "UPDATE runs SET last_step = ?, last_metrics = ? WHERE id = ?");
    while (runs.step()) {
        const std::int64_t runId = runs.integer(0);
        nlohmann::json last = nlohmann::json::object();
        std::int64_t lastStep = 0;
        lastValues.bind(1, runId);
        while (lastValues.step()) {
            last[lastValues.text(0)] =
                lastValues.isNull(1) ? nlohmann::json() : nlohmann::json(lastValues.real(1));
            lastStep = std::max(lastStep, lastValues.integer(2));
        }
        lastValues.reset();
        update.bind(1, lastStep).bind(2, last.dump()).bind(3, runId);
        update.run();
        update.reset();
    }
}

// Global run ids (issue 19): every run and sweep carries a random UUID (version 4), so runs written
// into separate files (one shard per Slurm task) can be merged into one database, and merging the
// same file twice changes nothing. Triggers give a UUID to rows inserted without one, so every
// insert path (RunWriter, importPeft, createSweep) is covered without naming the column.
// Kept self-contained (one constant, one function) so it can be renumbered when migrations land in
// another order.
#define SP_SQL_RANDOM_UUID                                                                              \
    "lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || "                         \
    "substr(lower(hex(randomblob(2))), 2) || '-' || substr('89ab', 1 + (abs(random()) % 4), 1) || "     \
    "substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6)))"
const char* const kSchemaGlobalIds =
    "ALTER TABLE runs ADD COLUMN uuid TEXT;\n"
    "ALTER TABLE sweeps ADD COLUMN uuid TEXT;\n"
    "UPDATE runs SET uuid = " SP_SQL_RANDOM_UUID " WHERE uuid IS NULL;\n"
    "UPDATE sweeps SET uuid = " SP_SQL_RANDOM_UUID " WHERE uuid IS NULL;\n"
    "CREATE UNIQUE INDEX runs_by_uuid ON runs(uuid);\n"
    "CREATE UNIQUE INDEX sweeps_by_uuid ON sweeps(uuid);\n"
    "CREATE TRIGGER runs_get_uuid AFTER INSERT ON runs FOR EACH ROW WHEN NEW.uuid IS NULL BEGIN "
    "UPDATE runs SET uuid = " SP_SQL_RANDOM_UUID " WHERE id = NEW.id; END;\n"
    "CREATE TRIGGER sweeps_get_uuid AFTER INSERT ON sweeps FOR EACH ROW WHEN NEW.uuid IS NULL BEGIN "
    "UPDATE sweeps SET uuid = " SP_SQL_RANDOM_UUID " WHERE id = NEW.id; END;\n";
#undef SP_SQL_RANDOM_UUID

void addGlobalIds(Database& database)
{
    database.exec(kSchemaGlobalIds, "adding global run ids to the schema");
}

// The prompt format of each run (issue 16): "plain" or "chat", and the rendered pieces of the layout
// [pre][context → σ][mid][query][post] as JSON (sp::promptPiecesToJson). Runs stored before had no chat
// format, so they are recorded as plain.
const char* const kSchemaPromptFormat = R"sql(
CREATE TABLE run_prompts(
    run_id INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
    format TEXT NOT NULL CHECK(format IN ('plain', 'chat')),
    pieces TEXT NOT NULL DEFAULT '{}'
);
INSERT INTO run_prompts(run_id, format, pieces) SELECT id, 'plain', '{"format":"plain"}' FROM runs;
)sql";

void applyMigration(Database& database, int toVersion)
{
    switch (toVersion) {
    case 1:
        database.exec(kSchemaV1, "creating the schema");
        break;
    case 2:
        migrateToVersion2(database);
        break;
    case kGlobalIdsSchemaVersion:
        addGlobalIds(database);
        break;
    case kPromptFormatSchemaVersion:
        database.exec(kSchemaPromptFormat, "upgrading the schema: prompt formats of runs");
        break;
    default:
        throw Error("internal error: no migration to run-store schema version " + std::to_string(toVersion));
    }
}

// Refuses a file as the run database: the user's remedy is another database file.
Error refusal(const std::string& path, const std::string& what)
{
    return Error("run database " + path + ": " + what, Remedy::ChooseDatabase);
}

// Checks the 100-byte SQLite header before SQLite reads the file, so that nothing (not even a
// journal) is ever written next to a file that is not a database. Read through the connection's own
// descriptor (see Database::readPrefix for why never through a second one).
void checkHeader(const Database& database, const std::string& path)
{
    std::int64_t size = database.fileSize();
    if (size == 0) {
        // SQLite's unix VFS reports a 1-byte file as empty (it writes that byte itself into new
        // files on some file systems), so a file holding one byte of something else would become a
        // store and lose it: look at that byte.
        if (database.readPrefix(1)[0] == '\0')
            return; // a new or empty file: it becomes a store
        size = 1;
    }
    const std::string untouched =
        ". The file was left exactly as it is; choose another database file, or "
        "move this one aside to start a new run database here";
    if (size < 100)
        throw refusal(path, "is not a SQLite database (only " + std::to_string(size) +
                                (size == 1 ? " byte)" : " bytes)") + untouched);
    const std::string prefix = database.readPrefix(100);
    const auto* header = reinterpret_cast<const unsigned char*>(prefix.data());
    if (std::memcmp(header, "SQLite format 3\0", 16) != 0)
        throw refusal(path,
                      "is not a SQLite database (its first bytes are not the SQLite signature)" + untouched);
    const unsigned pageSize = (header[16] << 8) | header[17];
    const bool pageSizeValid =
        pageSize == 1 || (pageSize >= 512 && pageSize <= 32768 && (pageSize & (pageSize - 1)) == 0);
    const bool versionsValid = header[18] >= 1 && header[18] <= 2 && header[19] >= 1 && header[19] <= 2;
    if (!pageSizeValid || !versionsValid)
        throw refusal(path, "is a damaged SQLite database (its header is invalid)" + untouched +
                                "; `sqlite3 " + path + " .recover` may rescue its data");
}

bool hasNoWriteBits(const std::string& path)
{
    struct stat info {};
    return ::stat(path.c_str(), &info) == 0 && (info.st_mode & (S_IWUSR | S_IWGRP | S_IWOTH)) == 0;
}

void checkWritable(const std::string& path, const fs::path& folder, bool exists)
{
    const std::string advice = ". Make it writable (chmod u+w), or choose another database file";
    // Root may write anything, so a file whose write bits are all cleared is also taken as the
    // user's wish that it stays read-only.
    if (exists && (access(path.c_str(), W_OK) != 0 || hasNoWriteBits(path)))
        throw refusal(path, "the file is read-only" + advice);
    // SQLite's write-ahead log (-wal, -shm) lives next to the file.
    if (access(folder.c_str(), W_OK) != 0 || hasNoWriteBits(folder.string()))
        throw refusal(path, "its folder " + folder.string() +
                                " is read-only, and SQLite must create its journal there" + advice);
}

std::string pragmaText(Database& database, const std::string& pragma)
{
    Statement statement(database, "PRAGMA " + pragma);
    return statement.step() ? statement.text(0) : std::string();
}

} // namespace

int userVersion(Database& database)
{
    Statement statement(database, "PRAGMA user_version");
    return statement.step() ? static_cast<int>(statement.integer(0)) : 0;
}

Database openStoreDatabase(const std::string& path, const StoreOptions& options, int targetVersion)
{
    if (path.empty())
        throw Error("no run database path given; name the database file", Remedy::ChooseDatabase);
    const fs::path file = fs::absolute(path);
    const fs::path folder = file.parent_path();
    std::error_code error;
    if (!fs::exists(folder, error)) {
        fs::create_directories(folder, error);
        if (error)
            throw refusal(path, "cannot create its folder " + folder.string() + " (" + error.message() +
                                    "); choose another location for the database");
    }
    const bool exists = fs::exists(file, error);
    if (exists && !fs::is_regular_file(file, error))
        throw refusal(path, "is not a regular file (a folder?); choose a .sqlite file");
    checkWritable(path, folder, exists);

    // Opening reads nothing; the header is checked before the first query does.
    Database database(path, !exists, options.busyTimeoutMs);
    checkHeader(database, path);

    // Read-only inspection first: nothing below writes until the file is known to be ours.
    int applicationId = 0, version = 0;
    std::string tables;
    try {
        applicationId = static_cast<int>(std::stoll(pragmaText(database, "application_id")));
        version = userVersion(database);
        Statement statement(database,
                            "SELECT group_concat(name, ', ') FROM sqlite_master WHERE type = 'table'");
        if (statement.step())
            tables = statement.text(0);
    } catch (const DatabaseError& failure) {
        throw DatabaseError(describeSqliteFailure(path, failure.code(), sqlite3_errstr(failure.code()),
                                                  "reading it", options.busyTimeoutMs),
                            failure.code());
    }
    if (applicationId != kApplicationId && !(applicationId == 0 && version == 0 && tables.empty()))
        throw refusal(path, "is a SQLite database of another program (tables: " +
                                (tables.empty() ? std::string("none") : tables) +
                                "), not a SoftPrompt run store. It was left as it is; choose another "
                                "database file");
    if (version > kCurrentSchemaVersion)
        throw refusal(path, "was written by a newer SoftPrompt Workbench (schema version " +
                                std::to_string(version) + "; this build reads up to version " +
                                std::to_string(kCurrentSchemaVersion) +
                                "). Update softprompt-workbench, or choose another database file. "
                                "The file was left as it is");

    const std::string mode = pragmaText(database, "journal_mode = WAL");
    if (mode != "wal")
        throw refusal(path,
                      "SQLite cannot use write-ahead logging for it (journal mode stays '" + mode +
                          "'); network shares do not support it: put the file on a local disk or choose "
                          "another location");
    database.exec("PRAGMA foreign_keys = ON", "enabling foreign keys");
    // FULL: every commit is on disk before it returns, so a metric flush survives a power cut too.
    database.exec("PRAGMA synchronous = FULL", "setting durability");
    if (options.maxPageCount > 0)
        database.exec("PRAGMA max_page_count = " + std::to_string(options.maxPageCount), "limiting its size");

    if (version < targetVersion) {
        Transaction transaction(database, "upgrading its schema");
        // Another process may have upgraded it between our read and the write lock.
        const int lockedVersion = userVersion(database);
        for (int next = lockedVersion + 1; next <= targetVersion; ++next)
            applyMigration(database, next);
        if (lockedVersion < targetVersion) {
            database.exec("PRAGMA application_id = " + std::to_string(kApplicationId),
                          "upgrading its schema");
            database.exec("PRAGMA user_version = " + std::to_string(targetVersion), "upgrading its schema");
        }
        transaction.commit();
    }
    return database;
}

} // namespace sp::store
