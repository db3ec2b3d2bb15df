#pragma once
// Helpers shared by the run-store tests and their child-process helper.
#include "softprompt/run_store.h"

#include <sqlite3.h>

#include <cmath>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

namespace storetest {

// σ whose every value depends on the step, so a loaded checkpoint proves which step it is.
inline sp::SoftPrompt sigmaForStep(int step, int k = 4, int dim = 8)
{
    sp::SoftPrompt sigma;
    sigma.k = k;
    sigma.dim = dim;
    sigma.values.resize(static_cast<std::size_t>(k) * dim); // [k, dim]
    for (std::size_t i = 0; i < sigma.values.size(); ++i)
        sigma.values[i] = static_cast<float>(step) + 0.001f * static_cast<float>(i) - 0.5f;
    return sigma;
}

// The value a test writer stores for metric number `metric` at `step`.
inline double metricValue(int step, int metric)
{
    return std::sin(0.01 * step) + metric + step * 1e-4;
}

inline std::string metricName(int metric)
{
    static const char* const names[] = {sp::metric_key::TrainS,       sp::metric_key::TrainTop1,
                                        sp::metric_key::LearningRate, sp::metric_key::GradNorm,
                                        sp::metric_key::StepSeconds,  sp::metric_key::TokensPerSecond};
    return metric < 6 ? names[metric] : "extra_" + std::to_string(metric);
}

inline sp::NewRun exampleRun(const std::string& name, int k = 4)
{
    sp::NewRun run;
    run.name = name;
    run.config = {{"k", k}, {"objective", "kl"}, {"learningRate", 0.01}, {"steps", 200}, {"init", "random"}};
    run.model.path = "/models/tiny-gpt2";
    run.model.hash = "c0ffee";
    run.model.summary = {{"name", "tiny-gpt2"},
                         {"path", "/models/tiny-gpt2"},
                         {"hiddenSize", 8},
                         {"numHeads", 2},
                         {"numLayers", 3}};
    run.device = "cpu";
    return run;
}

inline std::string fileBytes(const std::string& path)
{
    std::ifstream file(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
}

// A plain SQLite connection, for what the store's API deliberately cannot do (hold locks, forge
// rows, check integrity).
class RawDatabase {
public:
    explicit RawDatabase(const std::string& path)
    {
        if (sqlite3_open(path.c_str(), &handle_) != SQLITE_OK)
            throw std::runtime_error("cannot open " + path);
        sqlite3_busy_timeout(handle_, 5000);
    }
    ~RawDatabase() { sqlite3_close_v2(handle_); }
    RawDatabase(const RawDatabase&) = delete;
    RawDatabase& operator=(const RawDatabase&) = delete;

    void exec(const std::string& sql)
    {
        char* message = nullptr;
        if (sqlite3_exec(handle_, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
            const std::string text = message ? message : "?";
            sqlite3_free(message);
            throw std::runtime_error(sql + ": " + text);
        }
    }
    // The first column of the first row, as text ("" when there is none).
    std::string text(const std::string& sql)
    {
        sqlite3_stmt* statement = nullptr;
        if (sqlite3_prepare_v2(handle_, sql.c_str(), -1, &statement, nullptr) != SQLITE_OK)
            throw std::runtime_error(sql + ": " + sqlite3_errmsg(handle_));
        std::string result;
        const int code = sqlite3_step(statement);
        if (code == SQLITE_ROW && sqlite3_column_text(statement, 0))
            result = reinterpret_cast<const char*>(sqlite3_column_text(statement, 0));
        sqlite3_finalize(statement);
        if (code != SQLITE_ROW && code != SQLITE_DONE)
            throw std::runtime_error(sql + ": " + sqlite3_errstr(code));
        return result;
    }
    long long integer(const std::string& sql) { return std::stoll(text(sql)); }

private:
    sqlite3* handle_ = nullptr;
};

inline std::string integrityCheck(const std::string& path)
{
    RawDatabase database(path);
    return database.text("PRAGMA integrity_check");
}

} // namespace storetest
