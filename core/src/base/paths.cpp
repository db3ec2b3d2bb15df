#include "softprompt/paths.h"

#include "softprompt/error.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace fs = std::filesystem;

namespace sp {

std::string executablePath()
{
    std::error_code error;
    const fs::path self = fs::read_symlink("/proc/self/exe", error);
    return error ? std::string() : self.string();
}

std::string dataDirectory()
{
    std::vector<fs::path> candidates;
    if (const char* fromEnvironment = std::getenv("SOFTPROMPT_DATA_DIR"); fromEnvironment && *fromEnvironment)
        candidates.emplace_back(fromEnvironment);
    const std::string executable = executablePath();
    if (!executable.empty()) {
        const fs::path prefix = fs::path(executable).parent_path().parent_path();
        candidates.push_back(prefix / SP_INSTALL_DATA_SUBDIR);
    }
    candidates.emplace_back(SP_SOURCE_RESOURCES_DIR);

    std::string tried;
    for (const fs::path& candidate : candidates) {
        std::error_code error;
        if (fs::is_directory(candidate / "demo-model", error) || fs::is_directory(candidate / "examples", error))
            return candidate.string();
        tried += (tried.empty() ? "" : ", ") + candidate.string();
    }
    throw Error("cannot find the workbench data folder (demo model and examples); looked in " + tried +
                ". Set SOFTPROMPT_DATA_DIR to the folder that holds demo-model/, or reinstall the package");
}

std::string demoModelDirectory()
{
    return (fs::path(dataDirectory()) / "demo-model").string();
}

std::string examplesDirectory()
{
    return (fs::path(dataDirectory()) / "examples").string();
}

std::string defaultDatabasePath(bool createFolder)
{
    fs::path base;
    if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg) {
        base = xdg;
    } else if (const char* home = std::getenv("HOME"); home && *home) {
        base = fs::path(home) / ".local" / "share";
    } else {
        throw Error(
            "neither XDG_DATA_HOME nor HOME is set, so there is no default run database; choose a run "
            "database file",
            Remedy::ChooseDatabase);
    }
    const fs::path folder = base / "softprompt-workbench";
    if (!createFolder)
        return (folder / "runs.sqlite").string();
    std::error_code error;
    fs::create_directories(folder, error);
    if (error)
        throw Error(fileError(folder.string(), "cannot create the data folder (" + error.message() +
                                                   "); choose a run database in another location"),
                    Remedy::ChooseDatabase);
    return (folder / "runs.sqlite").string();
}

std::string readTextFile(const std::string& path)
{
    std::error_code error;
    if (!fs::exists(path, error))
        throw Error(fileError(path, "no such file; check the path"));
    if (fs::is_directory(path, error))
        throw Error(fileError(path, "is a folder, not a file"));
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw Error(fileError(path, "cannot open the file; check its permissions"));
    std::ostringstream content;
    content << in.rdbuf();
    return content.str();
}

void writeTextFile(const std::string& path, const std::string& text)
{
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out)
        throw Error(fileError(path, "cannot write the file; check the folder exists and is writable"));
    out << text;
    out.flush();
    if (!out)
        throw Error(fileError(path, "write failed (is the disk full?)"));
}

} // namespace sp
