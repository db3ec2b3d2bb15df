// `softprompt pretrain-demo`: the demo model, trained from scratch on the demo corpus.
//
// Each step reads contextsPerStep fresh contexts. A context is run once (its keys and values kept
// with their autograd history); its queriesPerContext queries then run as one batch on top of that
// cache, so the long context is paid for once per step while every query's answer loss reaches
// back into it. Loss = mean answer cross-entropy + contextLossWeight * LM loss on the context.
#include "softprompt/demo_training.h"

#include "demo/demo_batches.h"
#include "demo/demo_eval.h"
#include "demo/demo_step_data.h"
#include "demo/demo_step_loss.h"
#include "demo/demo_vocabulary.h"
#include "model/causal_lm.h"
#include "model/loaded_model.h"
#include "optim/adam.h"
#include "optim/learning_rate.h"
#include "softprompt/demo_corpus.h"
#include "softprompt/demo_tokenizer.h"
#include "softprompt/error.h"
#include "softprompt/model_config.h"
#include "softprompt/model_shape.h"
#include "softprompt/paths.h"
#include "softprompt/tokenizer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

namespace fs = std::filesystem;

namespace sp::demo {

namespace {

// Optimiser steps per minute of the default model over a whole run on one idle core (r9's 2,800
// steps took 50.5 minutes: 55.4 a minute); --minutes turns into a fixed step count so that a run is
// reproducible from its seed however busy the machine is. The default 45 minutes are 2,475 steps.
constexpr double kDefaultStepsPerMinute = 55.0;

ModelConfig demoModelConfig(const PretrainOptions& options, std::int64_t vocabSize, std::int64_t endOfText)
{
    if (options.hiddenSize % options.heads != 0)
        throw Error("pretrain-demo: hidden size " + std::to_string(options.hiddenSize) +
                    " is not divisible by the number of heads " + std::to_string(options.heads));
    ModelShape shape;
    shape.vocabSize = vocabSize;
    shape.hiddenSize = options.hiddenSize;
    shape.intermediateSize = options.intermediateSize;
    shape.numLayers = options.layers;
    shape.numHeads = options.heads;
    shape.numKeyValueHeads = options.heads;
    shape.headDim = options.hiddenSize / options.heads;
    shape.maxPositionEmbeddings = options.maxPositions;
    ModelConfig config = shapedModelConfig("llama", shape);
    config.tieWordEmbeddings = true;
    config.ropeTheta = 10000.0;
    config.bosTokenId = endOfText;
    config.eosTokenIds = {endOfText};
    config.torchDtype = "float32";
    return config;
}

// Distinct trainable tensors (a tied head shares the embedding's storage).
std::vector<at::Tensor> uniqueParameters(const model::CausalLM& model)
{
    std::vector<at::Tensor> unique;
    std::set<const void*> seen;
    for (const auto& [name, tensor] : model.namedParameters())
        if (seen.insert(tensor.unsafeGetTensorImpl()).second)
            unique.push_back(tensor);
    return unique;
}

// The input embedding [V, d], looked up by its exact name. Never skip silently: a mismatched name
// once left every demo model without its structured embeddings.
at::Tensor wordEmbedding(const model::CausalLM& model, const std::string& whatFor)
{
    for (const auto& [name, tensor] : model.namedParameters())
        if (name == "model.embed_tokens.weight")
            return tensor;
    throw Error("pretrain-demo: the model has no model.embed_tokens.weight to " + whatFor);
}

// Word classes of the corpus get structured starting embeddings (a pretrained model has such
// structure; a random one must discover it, which costs thousands of steps here): every value of a
// fact, greeting and closing = its class's shared vector + its own random vector. Attention can then
// pick out "the city" or "the greeting" anywhere in a long context with one direction.
void structureWordEmbeddings(const model::CausalLM& model, const Tokenizer& tokenizer, std::uint64_t seed,
                             double classScale)
{
    if (classScale <= 0.0)
        return;
    at::Tensor embedding = wordEmbedding(model, "structure; run with --structured-embeddings 0"); // [V, d]
    at::NoGradGuard noGrad;
    at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(seed);
    const std::int64_t hidden = embedding.size(1);
    auto addClass = [&](const std::vector<std::string_view>& words) {
        const at::Tensor shared = at::empty({hidden}, at::kFloat).normal_(0.0, classScale, generator); // [d]
        for (std::string_view word : words) {
            const std::vector<std::int32_t> ids = tokenizer.encode(" " + std::string(word));
            if (ids.size() == 1)
                embedding[ids.front()].add_(shared.to(embedding.device()));
        }
    };
    for (const auto* words : vocabulary::replyWordClasses())
        addClass(*words);
}

// --spread-values: a fact whose values the model can hardly tell apart (their embeddings close to
// their class mean) is a trap. The answer settles on the class prior, uniform over the values, and
// the values then get almost the same gradient, so they never move apart and retrieval never starts:
// the 8-head model learned five facts completely and sat at exactly log(48) on the code word
// (docs/demo-model.md, session 5). Scaling each value's distance from the class mean by `factor`
// gives retrieval the differences it needs; the class mean, which says "a code word", stays.
void spreadValueEmbeddings(const model::CausalLM& model, const Tokenizer& tokenizer,
                           const std::vector<std::string>& attributes, double factor)
{
    if (attributes.empty())
        return;
    at::Tensor embedding = wordEmbedding(model, "spread"); // [V, d]
    at::NoGradGuard noGrad;
    for (const std::string& attribute : attributes) {
        std::vector<std::int64_t> ids;
        for (std::string_view word : vocabulary::valuesOf(attribute))
            ids.push_back(tokenizer.encode(" " + std::string(word)).front()); // one token each (checked)
        const at::Tensor index = at::tensor(ids, at::kLong).to(embedding.device()); // [n]
        const at::Tensor rows = embedding.index_select(0, index);                   // [n, d]
        const at::Tensor classMean = rows.mean(0, /*keepdim=*/true);                // [1, d]
        embedding.index_copy_(0, index, classMean + (rows - classMean) * factor);
    }
}

// --init-from: the weights of a model folder that pretrain-demo wrote with the same tokenizer and
// model options, copied into the fresh trainable model.
void copyWeightsFrom(const model::CausalLM& target, const std::string& folder,
                     const std::string& tokenizerJson)
{
    const fs::path tokenizerPath = fs::path(folder) / "tokenizer.json";
    if (!fs::exists(tokenizerPath) || readTextFile(tokenizerPath.string()) != tokenizerJson)
        throw Error("pretrain-demo --init-from " + folder +
                    ": its tokenizer.json is not the one this seed and --vocab train; fine-tune with the "
                    "--seed and --vocab the model was made with");
    const std::shared_ptr<model::CausalLM> source = model::CausalLM::loadFolder(folder, at::kCPU, at::kFloat);
    std::map<std::string, at::Tensor> weights;
    for (const auto& [name, tensor] : source->namedParameters())
        weights[name] = tensor;
    at::NoGradGuard noGrad;
    for (const auto& [name, tensor] : target.namedParameters()) {
        const auto found = weights.find(name);
        if (found == weights.end() || !found->second.sizes().equals(tensor.sizes()))
            throw Error("pretrain-demo --init-from " + folder + ": its weight " + name +
                        (found == weights.end() ? " is missing" : " has another shape") +
                        "; fine-tune with the model options (--hidden, --layers, ...) it was made with");
        tensor.copy_(found->second);
    }
}

std::string formatDuration(double seconds)
{
    const long long total = std::llround(std::max(0.0, seconds));
    char text[32];
    std::snprintf(text, sizeof text, "%lld:%02lld", total / 60, total % 60);
    return text;
}

} // namespace

PretrainResult pretrainDemoModel(const PretrainOptions& options,
                                 const std::function<void(const PretrainProgress&)>& onProgress)
{
    if (options.outDir.empty())
        throw Error("pretrain-demo: give an output folder with --out");
    if (options.queriesPerContext < 1 || options.contextsPerStep < 1)
        throw Error("pretrain-demo: queries per context and contexts per step must be at least 1");
    if (options.maxPositions < options.maxContextTokens + 400)
        throw Error("pretrain-demo: a window of " + std::to_string(options.maxPositions) +
                    " positions is too short for contexts of up to " +
                    std::to_string(options.maxContextTokens) +
                    " tokens; allow at least 400 more positions for rules, glossary, query and answer");
    const double stepsPerMinute =
        options.stepsPerMinute > 0 ? options.stepsPerMinute : kDefaultStepsPerMinute;
    const int totalSteps =
        options.steps > 0 ? options.steps : int(std::lround(options.minutes * stepsPerMinute));
    if (totalSteps < 1)
        throw Error("pretrain-demo: nothing to train (" + std::to_string(totalSteps) +
                    " steps); give --minutes or --steps greater than zero");
    std::vector<std::string> namedAttributes = options.queryAttributes;
    namedAttributes.insert(namedAttributes.end(), options.distractorAttributes.begin(),
                           options.distractorAttributes.end());
    namedAttributes.insert(namedAttributes.end(), options.spreadAttributes.begin(),
                           options.spreadAttributes.end());
    if (!options.spreadAttributes.empty() && options.initFrom.empty())
        throw Error("pretrain-demo: --spread-values changes a trained model's embeddings; give the model "
                    "with --init-from (a fresh model's values are already apart)");
    if (!options.spreadAttributes.empty() && !(options.spreadFactor > 0.0))
        throw Error("pretrain-demo: --spread-factor must be greater than 0 (got " +
                    std::to_string(options.spreadFactor) + ")");
    if (options.distractorsPerContext < 0)
        throw Error("pretrain-demo: --distractors must be 0 or more (got " +
                    std::to_string(options.distractorsPerContext) + ")");
    for (const std::string& attribute : namedAttributes) {
        const auto& known = demoAttributes();
        if (std::find(known.begin(), known.end(), attribute) == known.end()) {
            std::string list;
            for (const std::string& name : known)
                list += (list.empty() ? "" : ", ") + name;
            throw Error("pretrain-demo: unknown attribute \"" + attribute + "\"; use some of: " + list);
        }
    }
    model::configureCpuThreads(); // once per process: an explicit --threads must come after it
    if (options.threads > 0)
        at::set_num_threads(options.threads);
    const auto start = std::chrono::steady_clock::now();
    auto elapsed = [&] {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };

    std::error_code error;
    fs::create_directories(options.outDir, error);
    if (error)
        throw Error(fileError(options.outDir, "cannot create the output folder (" + error.message() + ")"));

    // 1. The tokenizer, learned from its own sample of the corpus.
    DemoTokenizerOptions tokenizerOptions;
    tokenizerOptions.seed = mixSeed(options.seed, 1);
    tokenizerOptions.vocabSize = options.vocabSize;
    tokenizerOptions.sampleContexts = options.tokenizerSampleContexts;
    const std::string tokenizerJson = trainDemoTokenizerJson(tokenizerOptions);
    writeTextFile((fs::path(options.outDir) / "tokenizer.json").string(), tokenizerJson);
    const Tokenizer tokenizer = Tokenizer::fromJson(tokenizerJson, "demo tokenizer.json");
    const std::optional<std::int32_t> endOfTextId = tokenizer.tokenToId(kDemoEndOfText);
    if (!endOfTextId)
        throw Error("pretrain-demo: the trained tokenizer has no " + std::string(kDemoEndOfText) + " token");
    const std::int64_t endOfText = *endOfTextId;
    // Replies are copied word by word from the context; a word split into pieces would have to be
    // copied piece by piece, which a model this small learns far more slowly.
    for (const auto* list : vocabulary::replyWordClasses())
        for (std::string_view word : *list)
            if (tokenizer.encode(" " + std::string(word)).size() != 1)
                throw Error("pretrain-demo: \"" + std::string(word) +
                            "\" is not a single token of the trained tokenizer; raise --vocab");

    // 2. The model.
    const at::Device device = model::parseDevice(options.device);
    const bool batchContexts = options.batchContexts < 0 ? device.is_cuda() : options.batchContexts > 0;
    const int dataThreads = options.dataThreads >= 0 ? options.dataThreads
                            : device.is_cuda()
                                ? int(std::clamp(std::thread::hardware_concurrency(), 2u, 9u)) - 1
                                : 0;
    const ModelConfig config = demoModelConfig(options, tokenizer.vocabSize(), endOfText);
    std::shared_ptr<model::CausalLM> lm =
        model::CausalLM::createRandom(config, mixSeed(options.seed, 2), device);
    lm->setTrainable(true);
    if (!options.initFrom.empty()) {
        copyWeightsFrom(*lm, options.initFrom, tokenizerJson);
        spreadValueEmbeddings(*lm, tokenizer, options.spreadAttributes, options.spreadFactor);
    } else if (options.structuredEmbeddings)
        structureWordEmbeddings(*lm, tokenizer, mixSeed(options.seed, 6), options.wordClassScale);
    const std::vector<at::Tensor> parameters = uniqueParameters(*lm);
    std::int64_t parameterCount = 0;
    for (const at::Tensor& parameter : parameters)
        parameterCount += parameter.numel();
    optim::AdamSettings adamSettings;
    adamSettings.beta2 = 0.95; // as GPT-style pretraining does: the second moment follows the loss faster
    adamSettings.weightDecay = options.weightDecay;
    optim::Adam optimizer(parameters, adamSettings);

    double answerLossMean = 0.0;
    double contextLossMean = 0.0;
    const double smoothing = 0.98;
    double lastReport = -1e9;
    PretrainProgress progress;
    progress.totalSteps = totalSteps;
    const int lastStep =
        options.stopAfterSteps > 0 ? std::min(options.stopAfterSteps, totalSteps) : totalSteps;
    // 3. The data: contexts measured in tokens of the tokenizer just trained.
    StepDataStream data(options, tokenizer, endOfText, totalSteps, lastStep, dataThreads);
    for (int step = 0; step < lastStep; ++step) {
        const int highTokens = curriculumShape(options, step, totalSteps).highTokens;
        const double lr = optim::warmupCosineLearningRate(step + 1, totalSteps, options.warmupSteps,
                                                   options.learningRate, options.minLearningRateFraction);

        const std::vector<PreparedContext> prepared = data.take(step);
        // [2, C]: each context's answer loss, then its context loss (one host transfer per step).
        const at::Tensor hostLosses =
            backwardStepLosses(*lm, prepared, options.contextLossWeight, endOfText, batchContexts);
        const double contextCount = double(prepared.size());
        double stepAnswerLoss = 0.0;
        double stepContextLoss = 0.0;
        for (std::int64_t c = 0; c < hostLosses.size(1); ++c) {
            stepAnswerLoss += hostLosses[0][c].item<double>() / contextCount;
            stepContextLoss += hostLosses[1][c].item<double>() / contextCount;
        }
        if (!std::isfinite(stepAnswerLoss) || !std::isfinite(stepContextLoss))
            throw Error("pretrain-demo: the loss became " + std::to_string(stepAnswerLoss) + " at step " +
                        std::to_string(step + 1) +
                        "; training diverged. Lower the learning rate (--lr) or "
                        "raise the warm-up, and run again");
        std::vector<at::Tensor> gradients; // one per parameter, undefined where none flowed
        for (const at::Tensor& parameter : parameters)
            gradients.push_back(parameter.grad());
        optim::clipGradientNorm(gradients, options.gradClip);
        optimizer.step(parameters, gradients, lr);
        for (at::Tensor& gradient : gradients)
            if (gradient.defined())
                gradient.zero_();

        answerLossMean =
            step == 0 ? stepAnswerLoss : smoothing * answerLossMean + (1 - smoothing) * stepAnswerLoss;
        contextLossMean =
            step == 0 ? stepContextLoss : smoothing * contextLossMean + (1 - smoothing) * stepContextLoss;
        const bool evaluate =
            options.evalEvery > 0 && ((step + 1) % options.evalEvery == 0 || step + 1 == lastStep);
        if (evaluate) {
            DemoCorpusOptions evalCorpus;
            evalCorpus.minContextTokens = std::min(options.minContextTokens, options.maxContextTokens);
            evalCorpus.maxContextTokens =
                std::max(options.maxContextTokens, evalCorpus.minContextTokens + 300);
            const DemoEvalResult check =
                evaluateInMemory(*lm, tokenizer, options.evalExamples, kDefaultEvalSeed + 1, evalCorpus,
                                 /*withoutContext=*/false, 3, {});
            progress.lastExactMatch = check.withContext;
            progress.lastSample.clear();
            for (const auto& [part, accuracy] : check.tokenAccuracyByPart)
                progress.lastSample +=
                    " " + part + " " + std::to_string(int(std::lround(accuracy * 100))) + "%";
            for (const DemoEvalExample& sample : check.samples)
                progress.lastSample += " [" + sample.expected + " |" + sample.withContext + "]";
            // A usable model after every check: a run cut short still leaves one behind.
            lm->save(options.outDir);
        }
        const double now = elapsed();
        if (onProgress && (now - lastReport >= 5.0 || step + 1 == lastStep || evaluate)) {
            lastReport = now;
            progress.step = step + 1;
            progress.answerLoss = answerLossMean;
            progress.contextLoss = contextLossMean;
            progress.learningRate = lr;
            progress.maxContextTokens = highTokens;
            progress.elapsedSeconds = now;
            progress.etaSeconds = now / double(step + 1) * double(lastStep - step - 1);
            onProgress(progress);
        }
    }

    lm->setTrainable(false);
    lm->save(options.outDir);

    PretrainResult result;
    result.steps = lastStep;
    result.seconds = elapsed();
    result.finalAnswerLoss = answerLossMean;
    result.parameterCount = parameterCount;
    result.outDir = options.outDir;
    return result;
}

std::string formatPretrainProgress(const PretrainProgress& progress)
{
    char line[256];
    std::snprintf(line, sizeof line,
                  "step %d/%d  answer loss %.3f  context loss %.3f  lr %.2e  contexts <= %d tokens  "
                  "elapsed %s  ETA %s",
                  progress.step, progress.totalSteps, progress.answerLoss, progress.contextLoss,
                  progress.learningRate, progress.maxContextTokens,
                  formatDuration(progress.elapsedSeconds).c_str(),
                  formatDuration(progress.etaSeconds).c_str());
    std::string text = line;
    if (progress.lastExactMatch >= 0.0)
        text += "  exact match " + std::to_string(int(std::lround(progress.lastExactMatch * 100))) + "%" +
                progress.lastSample;
    return text;
}

} // namespace sp::demo
