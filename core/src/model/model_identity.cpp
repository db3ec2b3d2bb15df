#include "model/model_identity.h"

#include "softprompt/hash.h"
#include "softprompt/paths.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>

namespace fs = std::filesystem;

namespace sp::model {

namespace {

struct FileStamp {
    std::uintmax_t size = 0;
    long long modified = 0; // last_write_time ticks
};

std::mutex cacheMutex;
std::map<std::string, std::pair<FileStamp, std::string>> memoryCache; // absolute path -> (stamp, digest)

fs::path diskCacheFile()
{
    fs::path base;
    if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
        base = xdg;
    else if (const char* home = std::getenv("HOME"); home && *home)
        base = fs::path(home) / ".cache";
    else
        return {};
    return base / "softprompt-workbench" / "file-digests.json";
}

nlohmann::json readDiskCache(const fs::path& file)
{
    std::error_code error;
    if (file.empty() || !fs::exists(file, error))
        return nlohmann::json::object();
    try {
        nlohmann::json parsed = nlohmann::json::parse(readTextFile(file.string()));
        return parsed.is_object() ? parsed : nlohmann::json::object();
    } catch (const std::exception&) {
        return nlohmann::json::object(); // a damaged cache is rebuilt, never fatal
    }
}

void writeDiskCache(const fs::path& file, const std::string& path, const FileStamp& stamp,
                    const std::string& digest)
{
    if (file.empty())
        return;
    try {
        std::error_code error;
        fs::create_directories(file.parent_path(), error);
        nlohmann::json cache = readDiskCache(file);
        cache[path] = {{"size", stamp.size}, {"modified", stamp.modified}, {"sha256", digest}};
        const fs::path temporary = file.string() + ".tmp" + std::to_string(std::rand());
        writeTextFile(temporary.string(), cache.dump(1));
        fs::rename(temporary, file, error);
        if (error)
            fs::remove(temporary, error);
    } catch (const std::exception&) {
        // Best effort: without the cache the digest is recomputed next time.
    }
}

} // namespace

std::string cachedFileSha256(const std::string& path)
{
    std::error_code error;
    const std::string absolute = fs::absolute(path, error).lexically_normal().string();
    FileStamp stamp;
    stamp.size = fs::file_size(absolute, error);
    if (error)
        return sha256File(path); // reports the unreadable file
    stamp.modified = static_cast<long long>(fs::last_write_time(absolute, error).time_since_epoch().count());

    std::lock_guard<std::mutex> lock(cacheMutex);
    if (auto found = memoryCache.find(absolute); found != memoryCache.end() &&
                                                 found->second.first.size == stamp.size &&
                                                 found->second.first.modified == stamp.modified)
        return found->second.second;
    const fs::path diskFile = diskCacheFile();
    const nlohmann::json disk = readDiskCache(diskFile);
    if (auto entry = disk.find(absolute); entry != disk.end() && entry->is_object() &&
                                          entry->value("size", std::uintmax_t(0)) == stamp.size &&
                                          entry->value("modified", 0LL) == stamp.modified &&
                                          entry->value("sha256", std::string()).size() == 64) {
        const std::string digest = entry->value("sha256", std::string());
        memoryCache[absolute] = {stamp, digest};
        return digest;
    }
    const std::string digest = sha256File(absolute);
    memoryCache[absolute] = {stamp, digest};
    writeDiskCache(diskFile, absolute, stamp, digest);
    return digest;
}

std::string modelIdentity(const std::string& folder, const std::vector<std::string>& weightFiles)
{
    std::vector<std::string> files = weightFiles;
    std::sort(files.begin(), files.end(), [](const std::string& left, const std::string& right) {
        return fs::path(left).filename() < fs::path(right).filename();
    });
    files.insert(files.begin(), (fs::path(folder) / "config.json").string());
    Sha256 combined;
    for (const std::string& file : files) {
        combined.update(fs::path(file).filename().string());
        combined.update(std::string_view("\0", 1));
        combined.update(cachedFileSha256(file));
        combined.update("\n");
    }
    return combined.hexDigest();
}

} // namespace sp::model
