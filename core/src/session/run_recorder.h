#pragma once
// The run store as the training session uses it: every write is attempted, and a failure is kept
// (the first one, described for the user) instead of stopping the training. Torch-free.
#include "softprompt/run_recording.h"
#include "softprompt/run_store.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sp::session {

class RunRecorder {
public:
    // Opens the store at `databasePath`; empty records nothing. An open failure is kept in error().
    explicit RunRecorder(const std::string& databasePath);
    ~RunRecorder();

    void storeInputs(const CompressionTask& task, const TrainConfig& config, const std::string& querySetName);
    const StoredInputs& inputs() const { return inputs_; }
    // Returns the sweep's id, 0 when it could not be recorded.
    // With a global id: the sweep with that id, created when missing (RunStore::findOrCreateSweep).
    std::int64_t createSweep(const std::string& name, const TrainConfig& base, const std::string& uuid = {});

    // Starts recording a run; returns its id, 0 when it is not recorded.
    std::int64_t startRun(const NewRun& run);
    void addMetrics(int step, const std::vector<std::pair<std::string, double>>& values);
    void checkpoint(int step, const SoftPrompt& sigma);
    void addEvaluations(const std::vector<StoredEvaluation>& rows);
    void setSummary(const nlohmann::json& summary);
    void finish(RunStatus status, const std::string& message);

    // The first failure: "this run is not saved: ..." or "part of this run could not be saved ...".
    const std::string& error() const { return error_; }

private:
    template <typename Write> void attempt(Write&& write);

    std::string path_;
    std::unique_ptr<RunStore> store_;
    std::unique_ptr<RunWriter> writer_;
    StoredInputs inputs_;
    std::string error_;
};

} // namespace sp::session
