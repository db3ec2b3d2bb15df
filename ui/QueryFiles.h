#pragma once
// Query sets on disk, as the query editor imports and exports them.
//
// JSONL: one {"query": "...", "target": "..."} per line (the CLI's format); the optional
//        "heldout": true marks a held-out query. Lines without it take `heldOutDefault`.
// CSV:   RFC 4180, with a header row naming the columns query, target and split
//        (split is "train" or "heldout"); without a header the columns are in that order.
//
// Readers throw sp::Error naming the file and line and saying what to fix.
#include "softprompt/engine.h"

#include <QString>

#include <vector>

namespace spui {

std::vector<sp::Query> readQueryJsonl(const QString& path, bool heldOutDefault);
void writeQueryJsonl(const QString& path, const std::vector<sp::Query>& queries);

std::vector<sp::Query> readQueryCsv(const QString& path, bool heldOutDefault);
void writeQueryCsv(const QString& path, const std::vector<sp::Query>& queries);

// Picks the reader by extension (.csv, else JSONL).
std::vector<sp::Query> readQueryFile(const QString& path, bool heldOutDefault);
void writeQueryFile(const QString& path, const std::vector<sp::Query>& queries);

// CSV records of `text` (fields may hold quoted commas, quotes and newlines). Exposed for tests.
std::vector<QStringList> parseCsvRecords(const QString& text, const QString& sourceName);

} // namespace spui
