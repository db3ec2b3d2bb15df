#pragma once
// Small helpers shared by the CLI's command files.
#include <nlohmann/json.hpp>

#include <string>

namespace spcli {

// Prints a JSON value on stdout on one line (the CLI's machine-readable output).
void printJson(const nlohmann::json& value);
// Prints "softprompt: <message>" on stderr (one line; progress and errors go to stderr).
void printError(const std::string& message);

} // namespace spcli
