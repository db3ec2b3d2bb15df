#include "cli_common.h"

#include "softprompt/error.h"
#include "softprompt/paths.h"

#include <filesystem>
#include <iostream>

namespace spcli {

void printJson(const nlohmann::json& value)
{
    std::cout << value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
}

void printError(const std::string& message)
{
    std::cerr << "softprompt: " << message << std::endl;
}

std::string databasePath(const std::string& dbOption)
{
    // RunStore::open creates the folder with the file; a command that finds no file creates neither.
    return dbOption.empty() ? sp::defaultDatabasePath(false) : dbOption;
}

sp::RunStore openExistingStore(const std::string& dbOption)
{
    const std::string path = databasePath(dbOption);
    std::error_code error;
    if (!std::filesystem::exists(path, error))
        throw sp::Error("there are no runs yet: the run database " + path +
                        " does not exist (softprompt train or the workbench create it; --db picks another)");
    return sp::RunStore::open(path);
}

} // namespace spcli
