#include "PlaygroundWorker.h"

#include "QtConvert.h"
#include "softprompt/error.h"
#include "softprompt/hash.h"
#include "softprompt/paths.h"
#include "softprompt/prompt_format.h"
#include "softprompt/run_recording.h"
#include "softprompt/run_store.h"

namespace spui {

PlaygroundWorker::PlaygroundWorker(QObject* parent) : QObject(parent)
{
    qRegisterMetaType<spui::PlaygroundRequest>();
    qRegisterMetaType<spui::PlaygroundReply>();
    qRegisterMetaType<spui::CoverageRequest>();
    qRegisterMetaType<spui::QueryEvaluationRequest>();
    qRegisterMetaType<sp::GeneratedToken>();
    qRegisterMetaType<sp::CoverageMap>();
    qRegisterMetaType<sp::Evaluation>();
}

PlaygroundWorker::~PlaygroundWorker() = default;

const sp::Playground& PlaygroundWorker::playgroundFor(const PlaygroundRequest& request)
{
    const std::string key = request.model.summary().identity + "|" + request.model.summary().device + "|" +
                            request.model.summary().dtype + "|" + sp::promptFormatKey(request.format) + "|" +
                            sp::sha256Hex(request.context);
    if (!playground_ || key != playgroundKey_) {
        playground_.reset();
        playground_ = std::make_unique<sp::Playground>(request.model, request.context, request.format);
        playgroundKey_ = key;
        sigmaKey_.clear();
    }
    const std::string sigmaKey = request.runId > 0 ? "run:" + toStd(request.databasePath) + "#" +
                                                         std::to_string(request.runId)
                                                   : "file:" + toStd(request.sigmaFile);
    if ((request.runId > 0 || !request.sigmaFile.isEmpty()) && sigmaKey != sigmaKey_) {
        sp::SoftPrompt sigma;
        if (request.runId > 0) {
            const sp::RunStore store = sp::RunStore::open(toStd(request.databasePath));
            const sp::RunRecord run = store.run(request.runId);
            if (!run.model.hash.empty() && run.model.hash != request.model.summary().identity)
                throw sp::Error("run " + std::to_string(request.runId) + "'s σ was trained on another model (" +
                                run.model.path + "); load that model, or pick a run of this one");
            sigma = store.loadSigma(request.runId);
        } else {
            sigma = sp::softPromptFromSafetensors(sp::readTextFile(toStd(request.sigmaFile)), toStd(request.sigmaFile));
        }
        playground_->setSigma(sigma);
        sigmaKey_ = sigmaKey;
    }
    return *playground_;
}

void PlaygroundWorker::generate(const PlaygroundRequest& request)
{
    const sp::Playground* playground = nullptr;
    bool sigmaFailed = false;
    try {
        playground = &playgroundFor(request);
    } catch (const std::exception& error) {
        if (!playground_) { // the model or context itself failed: nothing can be asked
            for (sp::Condition condition : request.conditions)
                emit conditionFailed(request.id, int(condition), errorText(error));
            emit requestFinished(request.id);
            return;
        }
        sigmaFailed = true; // σ could not be loaded: the other conditions still answer
        playground = playground_.get();
        emit conditionFailed(request.id, int(sp::Condition::SoftPrompt), errorText(error));
    }
    for (sp::Condition condition : request.conditions) {
        if (cancelledUpTo_.load() >= request.id)
            break;
        if (condition == sp::Condition::SoftPrompt && sigmaFailed)
            continue;
        const auto found = request.history.find(condition);
        const std::vector<sp::ConversationTurn> history =
            found == request.history.end() ? std::vector<sp::ConversationTurn>{} : found->second;
        std::atomic<bool> stop{false};
        try {
            PlaygroundReply reply;
            reply.requestId = request.id;
            reply.generation = playground->generate(
                condition, history, request.question, request.settings,
                [&](const sp::GeneratedToken& token) {
                    emit tokenGenerated(request.id, int(condition), token);
                    if (cancelledUpTo_.load() >= request.id)
                        stop.store(true);
                },
                &stop);
            std::vector<std::int32_t> ids;
            for (const sp::GeneratedToken& token : reply.generation.tokens)
                ids.push_back(token.id);
            for (sp::Condition under : sp::playgroundConditions()) {
                try {
                    if (under == sp::Condition::SoftPrompt && (sigmaFailed || !playground->hasSigma()))
                        continue;
                    const auto other = request.history.find(under);
                    // Read under another condition, the answer follows that condition's own conversation.
                    reply.readUnder[under] = playground->score(
                        under, other == request.history.end() ? std::vector<sp::ConversationTurn>{} : other->second,
                        request.question, ids, request.settings.topK);
                } catch (const sp::Error&) {
                    // e.g. no context for the full condition: that column simply has no comparison
                }
            }
            emit replyFinished(reply);
        } catch (const std::exception& error) {
            emit conditionFailed(request.id, int(condition), errorText(error));
        }
    }
    emit requestFinished(request.id);
}

void PlaygroundWorker::computeCoverage(const CoverageRequest& request)
{
    cancelCoverage_.store(false);
    try {
        const sp::CoverageMap map = sp::computeCoverage(
            request.model, request.context, request.queries, request.config,
            request.sigma.empty() ? nullptr : &request.sigma, request.options,
            [&](double fraction) { emit coverageProgress(request.id, fraction); }, &cancelCoverage_);
        emit coverageReady(request.id, map, request.runId);
    } catch (const sp::Cancelled&) {
        emit coverageFailed(request.id, tr("Stopped."));
    } catch (const std::exception& error) {
        emit coverageFailed(request.id, errorText(error));
    }
}

void PlaygroundWorker::evaluateQueries(const QueryEvaluationRequest& request)
{
    try {
        sp::TrainConfig config = request.config;
        config.k = request.sigma.k;
        config.device = request.model.summary().device.substr(0, request.model.summary().device.find(':'));
        // The stored run's σ is evaluated in the prompt format it was trained in (runs from before
        // prompt formats, and σ without a run, are plain).
        sp::PromptFormat format = sp::PromptFormat::Plain;
        if (request.runId > 0 && !request.databasePath.isEmpty())
            format = sp::promptFormatFromKey(
                sp::RunStore::open(toStd(request.databasePath)).run(request.runId).promptFormat);
        sp::CompressionTask task(request.model, request.context, request.queries, format);
        sp::Evaluation evaluation = task.evaluate(request.sigma, config);
        for (std::size_t i = 0; i < evaluation.queries.size(); ++i)
            evaluation.queries[i].heldOut = request.queries[i].heldOut; // as the user marked them
        QString warning;
        if (request.runId > 0 && !request.databasePath.isEmpty()) {
            try {
                sp::RunStore store = sp::RunStore::open(toStd(request.databasePath));
                const std::vector<sp::CheckpointInfo> checkpoints = store.checkpoints(request.runId);
                const int step = checkpoints.empty() ? 0 : checkpoints.back().step;
                store.addEvaluations(request.runId, sp::toStoredEvaluations(evaluation, step), false);
            } catch (const std::exception& error) {
                warning = errorText(error);
            }
        }
        emit queriesEvaluated(request.runId, evaluation, warning);
    } catch (const std::exception& error) {
        emit queryEvaluationFailed(request.runId, errorText(error));
    }
}

} // namespace spui
