#pragma once
// Shared by the run store's source files.
#include "softprompt/run_store.h"
#include "store/process_identity.h"
#include "store/sqlite_db.h"

#include <string>
#include <vector>

namespace sp {

struct RunStore::Impl {
    store::Database database;
    std::string path;
    StoreOptions options;
};

namespace store {

// Stored JSON text back to JSON; a damaged value is an sp::Error naming the run and the column.
nlohmann::json parseStoredJson(const std::string& text, const std::string& what);

// The columns read into a RunRecord, in order (see readRunRecord).
extern const char* const kRunColumns;
RunRecord readRunRecord(Database& database, Statement& row);
RecordedWriter recordedWriter(Statement& row); // from a kRunColumns row

std::vector<std::string> normalizedTags(const std::vector<std::string>& tags); // trimmed, unique, sorted
void replaceTags(Database& database, std::int64_t runId, const std::vector<std::string>& tags);

std::string runNotFound(std::int64_t runId, const std::string& path);
void requireRun(Database& database, std::int64_t runId);

// Inserts the rows as evaluations of `runId` (their own runId is ignored), inside the caller's
// transaction.
void insertEvaluations(Database& database, std::int64_t runId, const std::vector<StoredEvaluation>& rows);

// The JSON kept for a TokenProbability list, and back.
nlohmann::json topKToJson(const std::vector<TokenProbability>& topK);
std::vector<TokenProbability> topKFromJson(const nlohmann::json& json);

// Writes `bytes` to `path` through a temporary file and a rename, so a crash leaves the old file or
// the new one, never half of one. Throws sp::Error naming the file.
void writeFileAtomically(const std::string& path, const std::string& bytes);

std::unique_ptr<RunWriter> makeRunWriter(const std::string& path, const StoreOptions& options,
                                         const NewRun& run);

} // namespace store
} // namespace sp
