#pragma once
// `softprompt eval --run ID --coverage`: the map of what σ forgets, as JSON (cmd_coverage.cpp).
#include <CLI/CLI.hpp>

#include <cstdint>
#include <memory>
#include <string>

namespace spcli {

struct CoverageCliOptions {
    bool enabled = false;
    std::string unit = "sentence";
    double threshold = 0.1;
    double keepFraction = 0.5;
};

// Adds --coverage, --unit, --influence-threshold and --keep-fraction to the eval command.
void addCoverageOptions(CLI::App& eval, CoverageCliOptions& options);
void runCoverageEval(std::int64_t runId, const std::string& db, const std::string& device,
                     const CoverageCliOptions& options);

} // namespace spcli
