#pragma once
// Sweep grids and Slurm (cmd_sweep.cpp) extend the `sweep` command that cmd_train.cpp registers.
#include <CLI/CLI.hpp>

namespace spcli {

// The `sweep` command's callback calls this first: it runs `sweep --grid FILE [--slurm ...]` and
// the `sweep status|cancel|merge ID` subcommands, and returns false when the plain k sweep
// (--ks) should run instead.
bool runGridSweepIfAsked(CLI::App& sweep);

} // namespace spcli
