#pragma once
// The run store's schema and its forward migrations, and the checks made before a file is touched.
#include "softprompt/run_store.h"
#include "store/sqlite_db.h"

namespace sp::store {

// The version that added runs.uuid and sweeps.uuid (global ids for merging run databases).
inline constexpr int kGlobalIdsSchemaVersion = 3;
// The version that adds run_prompts (a run's prompt format and rendered pieces).
inline constexpr int kPromptFormatSchemaVersion = 4;
inline constexpr int kCurrentSchemaVersion = 4;
// PRAGMA application_id of a run store ("SPWB"), so another program's SQLite file is recognised.
inline constexpr int kApplicationId = 0x53505742;

// Opens `path` for the store: refuses, without writing a byte, a file that is not a SQLite
// database, a damaged one, another program's database, a newer schema, a read-only file or a
// locked one; then switches to WAL, enables foreign keys and migrates up to `targetVersion` in one
// transaction. Tests pass an older `targetVersion` to build files of an earlier schema.
Database openStoreDatabase(const std::string& path, const StoreOptions& options,
                           int targetVersion = kCurrentSchemaVersion);

int userVersion(Database& database);

} // namespace sp::store
