// Sweep grids: a JSON file to the list of `softprompt train` invocations it stands for.
#include "softprompt/sweep_grid.h"

#include "softprompt/error.h"
#include "softprompt/paths.h"
#include "softprompt/text.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

namespace fs = std::filesystem;

namespace sp {

namespace {

// Options whose value is a file: resolved against the grid file's folder.
const std::set<std::string> kPathKeys = {"context", "queries", "heldout"};

// Keys the sweep itself sets for each point; a grid that sets them is refused.
const std::set<std::string> kReservedKeys = {"db", "name", "no-store", "json", "sweep-uuid", "sweep-name", "tag"};

std::string valueText(const std::string& key, const nlohmann::ordered_json& value)
{
    if (value.is_string())
        return value.get<std::string>();
    if (value.is_boolean())
        return value.get<bool>() ? "true" : "false";
    if (value.is_number_integer())
        return std::to_string(value.get<long long>());
    if (value.is_number()) {
        const double number = value.get<double>();
        if (!std::isfinite(number))
            throw Error("sweep grid: \"" + key + "\" must be a finite number");
        nlohmann::json plain = number; // shortest text that reads back as the same double
        return plain.dump();
    }
    throw Error("sweep grid: the value of \"" + key + "\" must be a string, a number or true/false, not " +
                value.dump() + " (list several values as an axis in \"grid\")");
}

std::string resolvePath(const std::string& key, const std::string& value, const std::string& baseDirectory)
{
    const bool isPath = kPathKeys.count(key) || (key == "model" && value != "demo" && value != "random");
    if (!isPath || value.empty() || fs::path(value).is_absolute() || baseDirectory.empty())
        return value;
    // "model": only when such a folder exists next to the grid; otherwise a name the CLI resolves.
    const fs::path resolved = fs::absolute(fs::path(baseDirectory) / value).lexically_normal();
    if (key == "model" && !fs::exists(resolved))
        return value;
    return resolved.string();
}

void checkKey(const std::string& key, const std::string& where)
{
    if (kReservedKeys.count(key))
        throw Error("sweep grid: " + where + " sets \"" + key +
                    "\", which the sweep sets itself for each point; remove it");
    if (!isGridOptionKey(key))
        throw Error("sweep grid: " + where + " has \"" + key +
                    "\", which is not a `softprompt train` option. Known: " + joinStrings(gridOptionKeys(), ", "));
}

// One value of an axis: a scalar sets the axis's own option; an object sets several options.
std::vector<TrainOption> axisValue(const std::string& axis, const nlohmann::ordered_json& value,
                                   const std::string& baseDirectory)
{
    std::vector<TrainOption> options;
    if (value.is_object()) {
        if (value.empty())
            throw Error("sweep grid: axis \"" + axis + "\" has an empty object as a value");
        for (const auto& [key, inner] : value.items()) {
            checkKey(key, "a value of axis \"" + axis + "\"");
            options.emplace_back(key, resolvePath(key, valueText(key, inner), baseDirectory));
        }
        return options;
    }
    checkKey(axis, "axis \"" + axis + "\"");
    options.emplace_back(axis, resolvePath(axis, valueText(axis, value), baseDirectory));
    return options;
}

// Sets or replaces `key` keeping the first position it was set at.
void setOption(std::vector<TrainOption>& options, const TrainOption& option)
{
    for (TrainOption& existing : options)
        if (existing.first == option.first) {
            existing.second = option.second;
            return;
        }
    options.push_back(option);
}

std::string labelOf(const std::vector<TrainOption>& varying)
{
    std::string label;
    for (const auto& [key, value] : varying) {
        std::string shown = value;
        if (kPathKeys.count(key))
            shown = fs::path(value).filename().string();
        label += (label.empty() ? "" : " ") + key + "=" + shown;
    }
    return label;
}

} // namespace

const std::vector<std::string>& gridOptionKeys()
{
    static const std::vector<std::string> keys = {
        "model",      "context",  "queries",      "heldout",      "split",        "k",
        "objective",  "temperature", "target",    "length",       "init",         "init-text",
        "steps",      "lr",       "batch",        "warmup",       "optimizer",    "weight-decay",
        "clip",       "eval-every", "patience",   "checkpoint-every", "teacher-top-k", "seed",
        "device",     "dtype",    "format"};
    return keys;
}

bool isGridOptionKey(const std::string& key)
{
    const std::vector<std::string>& keys = gridOptionKeys();
    return std::find(keys.begin(), keys.end(), key) != keys.end();
}

std::vector<std::string> GridPoint::trainArguments() const
{
    std::vector<std::string> arguments;
    for (const auto& [key, value] : options) {
        arguments.push_back("--" + key);
        arguments.push_back(value);
    }
    return arguments;
}

std::string GridPoint::option(const std::string& key) const
{
    for (const auto& [name, value] : options)
        if (name == key)
            return value;
    return {};
}

namespace {

SweepGrid parseOrderedGrid(const nlohmann::ordered_json& grid, const std::string& baseDirectory,
                           const std::vector<TrainOption>& shared)
{
    if (!grid.is_object())
        throw Error("sweep grid: the file must hold a JSON object, e.g. {\"grid\": {\"k\": [1, 2, 4]}}");
    SweepGrid result;
    result.source = nlohmann::json::parse(grid.dump());
    result.name = grid.contains("name") && grid["name"].is_string() ? grid["name"].get<std::string>() : "";

    std::vector<TrainOption> base;
    for (const TrainOption& option : shared) {
        checkKey(option.first, "the command line");
        setOption(base, {option.first, resolvePath(option.first, option.second, "")});
    }
    if (grid.contains("train")) {
        if (!grid["train"].is_object())
            throw Error("sweep grid: \"train\" must be an object of train options, e.g. {\"steps\": 40}");
        for (const auto& [key, value] : grid["train"].items()) {
            checkKey(key, "\"train\"");
            setOption(base, {key, resolvePath(key, valueText(key, value), baseDirectory)});
        }
    }

    nlohmann::ordered_json axes = nlohmann::ordered_json::object();
    if (grid.contains("grid")) {
        if (!grid["grid"].is_object())
            throw Error("sweep grid: \"grid\" must be an object of axes, e.g. {\"k\": [1, 2, 4]}");
        axes = grid["grid"];
        for (const auto& [key, value] : grid.items())
            if (key != "name" && key != "train" && key != "grid" && key != "points")
                throw Error("sweep grid: unknown top-level key \"" + key +
                            "\"; put axes under \"grid\" and shared options under \"train\"");
    } else {
        for (const auto& [key, value] : grid.items())
            if (key != "name" && key != "train" && key != "points")
                axes[key] = value;
    }

    // Each axis: its values, each a list of options.
    std::vector<std::vector<std::vector<TrainOption>>> axisValues;
    std::size_t total = 1;
    for (const auto& [axis, values] : axes.items()) {
        if (!values.is_array() || values.empty())
            throw Error("sweep grid: axis \"" + axis + "\" must be a non-empty list of values, e.g. \"" + axis +
                        "\": [1, 2]");
        std::vector<std::vector<TrainOption>> choices;
        for (const nlohmann::ordered_json& value : values)
            choices.push_back(axisValue(axis, value, baseDirectory));
        total *= choices.size();
        if (total > static_cast<std::size_t>(kMaxGridPoints))
            throw Error("sweep grid: more than " + std::to_string(kMaxGridPoints) +
                        " points; split the sweep into several grids");
        result.axes.push_back(axis);
        axisValues.push_back(std::move(choices));
    }

    std::vector<std::vector<TrainOption>> varying; // per point, the options its axes set
    if (!axisValues.empty()) {
        std::vector<std::size_t> counter(axisValues.size(), 0);
        for (std::size_t n = 0; n < total; ++n) {
            std::vector<TrainOption> options;
            for (std::size_t a = 0; a < axisValues.size(); ++a)
                for (const TrainOption& option : axisValues[a][counter[a]])
                    options.push_back(option);
            varying.push_back(std::move(options));
            for (std::size_t a = axisValues.size(); a-- > 0;) { // the last axis varies fastest
                if (++counter[a] < axisValues[a].size())
                    break;
                counter[a] = 0;
            }
        }
    }
    if (grid.contains("points")) {
        if (!grid["points"].is_array())
            throw Error("sweep grid: \"points\" must be a list of objects, e.g. [{\"k\": 64}]");
        for (const nlohmann::ordered_json& point : grid["points"]) {
            if (!point.is_object() || point.empty())
                throw Error("sweep grid: each of \"points\" must be a non-empty object of train options");
            std::vector<TrainOption> options;
            for (const auto& [key, value] : point.items()) {
                checkKey(key, "a point of \"points\"");
                options.emplace_back(key, resolvePath(key, valueText(key, value), baseDirectory));
            }
            varying.push_back(std::move(options));
        }
    }
    if (varying.empty())
        varying.emplace_back(); // no axes: one run of the shared options
    if (varying.size() > static_cast<std::size_t>(kMaxGridPoints))
        throw Error("sweep grid: more than " + std::to_string(kMaxGridPoints) + " points");

    for (std::size_t n = 0; n < varying.size(); ++n) {
        GridPoint point;
        point.index = static_cast<int>(n);
        point.options = base;
        for (const TrainOption& option : varying[n])
            setOption(point.options, option);
        point.label = labelOf(varying[n]);
        result.points.push_back(std::move(point));
    }
    for (const char* required : {"model", "context", "queries"})
        for (const GridPoint& point : result.points)
            if (point.option(required).empty())
                throw Error(std::string("sweep grid: point ") + std::to_string(point.index) + " has no \"" +
                                required + "\"; set it in \"train\" or on an axis",
                            Remedy::GiveSweepOption);
    return result;
}

} // namespace

SweepGrid parseSweepGrid(const nlohmann::json& grid, const std::string& baseDirectory,
                         const std::vector<TrainOption>& shared)
{
    return parseOrderedGrid(nlohmann::ordered_json::parse(grid.dump()), baseDirectory, shared);
}

SweepGrid parseSweepGrid(const std::string& jsonText, const std::string& baseDirectory,
                         const std::vector<TrainOption>& shared)
{
    // Read in file order: the first axis varies slowest, as written.
    const nlohmann::ordered_json grid = nlohmann::ordered_json::parse(jsonText, nullptr, false);
    if (grid.is_discarded())
        throw Error("sweep grid: not valid JSON; a sweep grid looks like {\"grid\": {\"k\": [1, 2, 4]}}");
    return parseOrderedGrid(grid, baseDirectory, shared);
}

SweepGrid loadSweepGrid(const std::string& path, const std::vector<TrainOption>& shared)
{
    const std::string text = readTextFile(path);
    if (nlohmann::json::parse(text, nullptr, false).is_discarded())
        throw Error(fileError(path, "is not valid JSON; a sweep grid looks like {\"grid\": {\"k\": [1, 2, 4]}}"));
    try {
        SweepGrid grid = parseSweepGrid(text, fs::absolute(path).parent_path().string(), shared);
        if (grid.name.empty())
            grid.name = fs::path(path).stem().string();
        return grid;
    } catch (const Error& error) {
        throw Error(path + ": " + error.what(), error.remedy());
    }
}

nlohmann::json kSweepGrid(const std::vector<int>& ks)
{
    return {{"grid", {{"k", ks}}}};
}

} // namespace sp
