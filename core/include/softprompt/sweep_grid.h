#pragma once
// Sweep grids: many σ trainings over k, objective, learning rate, init, seed, target and
// context/query-set pairs, each one a `softprompt train` invocation. Qt-free and torch-free; used by
// `softprompt sweep --grid FILE` (serially here, or as a Slurm job array) and by the GUI.
//
// The grid file (JSON):
//   {
//     "name": "k × lr",                                   optional
//     "train": {"model": "demo", "steps": 40},            options every point shares
//     "grid": {                                           axes: every combination is one point
//       "k": [1, 2, 4],
//       "lr": [0.01, 0.03],
//       "inputs": [{"context": "a.txt", "queries": "a.jsonl"},   an axis whose values set several
//                  {"context": "b.txt", "queries": "b.jsonl"}]   options at once
//     },
//     "points": [{"k": 64, "steps": 400}]                 optional extra points, after the grid
//   }
// Keys are `softprompt train` options without their dashes ("lr", "weight-decay", "init-text").
// Without "grid", every key other than name/train/points is an axis, so `{"k": [1, 2, 4, 8]}` is
// the simple case. Axes vary in the order written, the first slowest. Relative file paths
// (context, queries, heldout, model when it is a folder) are taken relative to the grid file.
#include <nlohmann/json.hpp>

#include <string>
#include <utility>
#include <vector>

namespace sp {

// One `--option value` pair of `softprompt train` (the flag without its dashes).
using TrainOption = std::pair<std::string, std::string>;

struct GridPoint {
    int index = 0;                    // 0-based; the Slurm array task id
    std::vector<TrainOption> options; // shared options first, then this point's, each key once
    std::string label;                // the values that vary between points, e.g. "k=4 lr=0.03"
    // The arguments after `softprompt train`: --key value ... in `options` order.
    std::vector<std::string> trainArguments() const;
    // The value of option `key` ("" when absent).
    std::string option(const std::string& key) const;
};

struct SweepGrid {
    std::string name;
    std::vector<std::string> axes; // the keys that vary, in order
    std::vector<GridPoint> points;
    nlohmann::json source; // the file's JSON as read, for the sweep's record
};

inline constexpr int kMaxGridPoints = 10000;

// The options a grid may set (train's options that describe a run), and whether a key is one.
const std::vector<std::string>& gridOptionKeys();
bool isGridOptionKey(const std::string& key);

// Builds the grid. `shared` holds options given on the command line (they apply to every point
// unless the file sets them too); `baseDirectory` resolves relative paths. Throws sp::Error naming
// the key and what to fix (unknown option, empty axis, a value that is not a string, number or
// boolean, too many points).
SweepGrid parseSweepGrid(const std::string& jsonText, const std::string& baseDirectory,
                         const std::vector<TrainOption>& shared = {});
// The same from a JSON value; its object keys are sorted (nlohmann::json), so axes vary in
// alphabetical order rather than as written.
SweepGrid parseSweepGrid(const nlohmann::json& grid, const std::string& baseDirectory,
                         const std::vector<TrainOption>& shared = {});
SweepGrid loadSweepGrid(const std::string& path, const std::vector<TrainOption>& shared = {});

// `{"k": [1, 2, 4]}`: the grid of the simple k sweep.
nlohmann::json kSweepGrid(const std::vector<int>& ks);

} // namespace sp
