#pragma once
// Each CLI area (tokenize, model, train, runs, demo, bench) lives in its own file and registers
// its subcommands here, so areas can be added without touching main.cpp.
#include <CLI/CLI.hpp>

namespace spcli {

using CommandRegistration = void (*)(CLI::App& app);

// `order` fixes where the area's subcommands appear in --help (lower first).
bool addCommandRegistration(int order, CommandRegistration registration);
void registerAllCommands(CLI::App& app);

// The `bench` group is shared by several areas (bench tokenizer|model|train|store): each adds its
// own subcommand to the one group this returns (created on first use).
CLI::App& benchGroup(CLI::App& app);

} // namespace spcli

#define SP_REGISTER_CLI_COMMANDS(order, function) \
    static const bool spRegistered_##function = ::spcli::addCommandRegistration(order, function)
