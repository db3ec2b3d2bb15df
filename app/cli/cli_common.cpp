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

std::string cliAdvice(sp::Remedy remedy)
{
    switch (remedy) {
    case sp::Remedy::None:
        return {};
    case sp::Remedy::ChooseDatabase:
        return "--db PATH picks another database file";
    case sp::Remedy::UsePlainFormat:
        return "--format plain";
    case sp::Remedy::UseBfloat16:
        return "--dtype bfloat16";
    case sp::Remedy::UseFloat32:
        return "--dtype float32";
    case sp::Remedy::UseFloat32Compute:
        return "--half-compute float32, the default, or --dtype bfloat16";
    case sp::Remedy::UseCpuDevice:
        return "--device cpu; softprompt --version says whether this build has CUDA";
    case sp::Remedy::ChooseModelFolder:
        return "--model PATH names a Hugging Face folder";
    case sp::Remedy::RecomputeCoverage:
        return "softprompt eval --coverage computes it again";
    case sp::Remedy::RunSweepLocally:
        return "leave out --slurm";
    case sp::Remedy::ChooseSweepFolder:
        return "--sweep-dir DIR picks the folder";
    case sp::Remedy::CheckSlurmOptions:
        return "--partition, --account, --time, --gpus-per-task";
    case sp::Remedy::GiveSweepOption:
        return "or give --model, --context or --queries to softprompt sweep for every point";
    }
    return {};
}

std::string errorText(const sp::Error& error)
{
    const std::string advice = cliAdvice(error.remedy());
    return advice.empty() ? std::string(error.what()) : error.what() + std::string(" (") + advice + ")";
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
