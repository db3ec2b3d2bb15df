#pragma once
// Small helpers shared by the CLI's command files.
#include "softprompt/error.h"
#include "softprompt/run_store.h"

#include <nlohmann/json.hpp>

#include <string>

namespace spcli {

// Prints a JSON value on stdout on one line (the CLI's machine-readable output).
void printJson(const nlohmann::json& value);
// Prints "softprompt: <message>" on stderr (one line; progress and errors go to stderr).
void printError(const std::string& message);

// The CLI's advice for what core's error says to do (core names no flag): the flag or command
// that does it, "" for Remedy::None. The one place a Remedy becomes a CLI flag.
std::string cliAdvice(sp::Remedy remedy);
// An sp::Error as the CLI shows it: core's message, then " (<cliAdvice>)" when there is advice.
std::string errorText(const sp::Error& error);

// The run database a command uses: its --db value, else sp::defaultDatabasePath().
std::string databasePath(const std::string& dbOption);
// For commands that read or change stored runs: the existing database. A missing file is an
// sp::Error saying there are no runs yet, and no empty database is left behind.
sp::RunStore openExistingStore(const std::string& dbOption);

} // namespace spcli
