#include "session/run_recorder.h"
#include "softprompt/train_config_json.h"

#include <exception>

namespace sp::session {

RunRecorder::RunRecorder(const std::string& databasePath) : path_(databasePath)
{
    if (path_.empty())
        return;
    try {
        store_ = std::make_unique<RunStore>(RunStore::open(path_));
    } catch (const std::exception& failure) {
        error_ = "this run is not saved: the run database " + path_ + " could not be used (" + failure.what() +
                 ")";
    }
}

RunRecorder::~RunRecorder() = default;

template <typename Write> void RunRecorder::attempt(Write&& write)
{
    try {
        write();
    } catch (const std::exception& failure) {
        if (error_.empty())
            error_ = "part of this run could not be saved to " + path_ + ": " + failure.what();
    }
}

void RunRecorder::storeInputs(const CompressionTask& task, const TrainConfig& config,
                              const std::string& querySetName)
{
    if (store_)
        attempt([&] { inputs_ = storeTaskInputs(*store_, task, config, querySetName); });
}

std::int64_t RunRecorder::createSweep(const std::string& name, const TrainConfig& base, const std::string& uuid)
{
    std::int64_t sweepId = 0;
    if (store_)
        attempt([&] { sweepId = store_->findOrCreateSweep(uuid, name, trainConfigToJson(base), inputs_.contextId); });
    return sweepId;
}

std::int64_t RunRecorder::startRun(const NewRun& run)
{
    writer_.reset();
    if (store_)
        attempt([&] { writer_ = store_->startRun(run); });
    return writer_ ? writer_->runId() : 0;
}

void RunRecorder::addMetrics(int step, const std::vector<std::pair<std::string, double>>& values)
{
    if (writer_)
        attempt([&] { writer_->addMetrics(step, values); });
}

void RunRecorder::checkpoint(int step, const SoftPrompt& sigma)
{
    if (writer_)
        attempt([&] { writer_->checkpoint(step, sigma); });
}

void RunRecorder::addEvaluations(const std::vector<StoredEvaluation>& rows)
{
    if (writer_)
        attempt([&] { writer_->addEvaluations(rows); });
}

void RunRecorder::setSummary(const nlohmann::json& summary)
{
    if (writer_)
        attempt([&] { writer_->setSummary(summary); });
}

void RunRecorder::finish(RunStatus status, const std::string& message)
{
    if (writer_)
        attempt([&] { writer_->finish(status, message); });
    writer_.reset();
}

} // namespace sp::session
