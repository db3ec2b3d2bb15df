#pragma once
// A model's stable identity: sha256 over config.json and its weight files. Hashing a multi-GB
// checkpoint takes seconds, so each file's digest is remembered per (absolute path, size, mtime), in
// memory and in a small JSON cache under $XDG_CACHE_HOME/softprompt-workbench (best effort).
#include <string>
#include <vector>

namespace sp::model {

// sha256 of one file, from the cache when the file is unchanged.
std::string cachedFileSha256(const std::string& path);

// Combines the digests of config.json and the weight files (sorted by file name) with their names.
std::string modelIdentity(const std::string& folder, const std::vector<std::string>& weightFiles);

} // namespace sp::model
