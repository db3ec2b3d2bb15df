// `softprompt pretrain-demo`: the demo model, trained from scratch on the demo corpus.
//
// Each step reads contextsPerStep fresh contexts. A context is run once (its keys and values kept
// with their autograd history); its queriesPerContext queries then run as one batch on top of that
// cache, so the long context is paid for once per step while every query's answer loss reaches
// back into it. Loss = mean answer cross-entropy + contextLossWeight * LM loss on the context.
#include "softprompt/demo_training.h"

#include "demo/adamw.h"
#include "demo/demo_batches.h"
#include "demo/demo_eval.h"
#include "demo/demo_vocabulary.h"
#include "model/causal_lm.h"
#include "model/loaded_model.h"
#include "softprompt/demo_corpus.h"
#include "softprompt/demo_tokenizer.h"
#include "softprompt/error.h"
#include "softprompt/model_config.h"
#include "softprompt/paths.h"
#include "softprompt/tokenizer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <set>

namespace fs = std::filesystem;

namespace sp::demo {

namespace {

// Optimiser steps per minute of the default model over a whole run on one core (the shipped model's
// 2,800 steps took about 50 minutes); --minutes turns into a fixed step count so that a run is
// reproducible from its seed however busy the machine is.
constexpr double kDefaultStepsPerMinute = 56.0;

std::uint64_t mixSeed(std::uint64_t seed, std::uint64_t stream)
{
    std::uint64_t z = seed * 0x9E3779B97F4A7C15ull + stream;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

ModelConfig demoModelConfig(const PretrainOptions& options, std::int64_t vocabSize, std::int64_t endOfText)
{
    if (options.hiddenSize % options.heads != 0)
        throw Error("pretrain-demo: hidden size " + std::to_string(options.hiddenSize) +
                    " is not divisible by the number of heads " + std::to_string(options.heads));
    ModelConfig config;
    config.modelType = "llama";
    config.architecture = Architecture::Llama;
    config.vocabSize = vocabSize;
    config.hiddenSize = options.hiddenSize;
    config.numLayers = options.layers;
    config.numHeads = options.heads;
    config.numKeyValueHeads = options.heads;
    config.headDim = options.hiddenSize / options.heads;
    config.intermediateSize = options.intermediateSize;
    config.maxPositionEmbeddings = options.maxPositions;
    config.activation = "silu";
    config.normEpsilon = 1e-5;
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

// Word classes of the corpus get structured starting embeddings (a pretrained model has such
// structure; a random one must discover it, which costs thousands of steps here): every value of a
// fact, greeting and closing = its class's shared vector + its own random vector. Attention can then
// pick out "the city" or "the greeting" anywhere in a long context with one direction.
void structureWordEmbeddings(const model::CausalLM& model, const Tokenizer& tokenizer, std::uint64_t seed,
                             double classScale)
{
    if (classScale <= 0.0)
        return;
    at::Tensor embedding; // [V, d]
    for (const auto& [name, tensor] : model.namedParameters())
        if (name.size() >= 23 && name.compare(name.size() - 23, 23, "embed_tokens.weight") == 0)
            embedding = tensor;
    if (!embedding.defined())
        return;
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

int drawContextLength(std::uint64_t& state, int low, int high)
{
    const double u = double(mixSeed(state++, 7) >> 11) * 0x1.0p-53;
    return int(
        std::lround(std::exp(std::log(double(low)) + (std::log(double(high)) - std::log(double(low))) * u)));
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
    const ModelConfig config = demoModelConfig(options, tokenizer.vocabSize(), endOfText);
    std::shared_ptr<model::CausalLM> lm =
        model::CausalLM::createRandom(config, mixSeed(options.seed, 2), device);
    lm->setTrainable(true);
    if (options.structuredEmbeddings)
        structureWordEmbeddings(*lm, tokenizer, mixSeed(options.seed, 6), options.wordClassScale);
    const std::vector<at::Tensor> parameters = uniqueParameters(*lm);
    std::int64_t parameterCount = 0;
    for (const at::Tensor& parameter : parameters)
        parameterCount += parameter.numel();
    AdamWSettings adamSettings;
    adamSettings.weightDecay = options.weightDecay;
    AdamW optimizer(parameters, adamSettings);

    // 3. The data: contexts measured in tokens of the tokenizer just trained.
    DemoCorpusOptions corpusOptions;
    corpusOptions.minContextTokens = 16;
    // Slack above the longest target: persona, rules and glossary alone may exceed a short target.
    corpusOptions.maxContextTokens = options.maxContextTokens + 300;
    corpusOptions.queriesPerContext = options.queriesPerContext;
    corpusOptions.countTokens = [&tokenizer](std::string_view text) { return tokenizer.encode(text).size(); };
    DemoCorpusGenerator generator(mixSeed(options.seed, 3), corpusOptions);
    std::uint64_t lengthState = mixSeed(options.seed, 4);
    std::uint64_t positionState = mixSeed(options.seed, 5);
    std::uint64_t factState = mixSeed(options.seed, 8);

    double answerLossMean = 0.0;
    double contextLossMean = 0.0;
    const double smoothing = 0.98;
    double lastReport = -1e9;
    PretrainProgress progress;
    progress.totalSteps = totalSteps;
    const int lastStep =
        options.stopAfterSteps > 0 ? std::min(options.stopAfterSteps, totalSteps) : totalSteps;
    for (int step = 0; step < lastStep; ++step) {
        const double fraction = double(step) / double(totalSteps);
        int lowTokens = options.minContextTokens;
        int highTokens = options.maxContextTokens;
        if (fraction < options.curriculumFraction) {
            // The ceiling grows geometrically: attention learns to find the rules among few tokens
            // first (at initialisation it spreads evenly, so every filler token dilutes the signal).
            const double ramp = fraction / options.curriculumFraction;
            highTokens = int(std::lround(
                options.curriculumStartMaxTokens *
                std::pow(double(options.maxContextTokens) / options.curriculumStartMaxTokens, ramp)));
            lowTokens = std::min(lowTokens, std::max(16, highTokens / 4));
        }
        lowTokens = std::min(lowTokens, highTokens);
        const int allFacts = int(demoAttributes().size());
        const int factCount =
            fraction < options.curriculumFraction
                ? std::min(allFacts, 1 + int(double(allFacts) * fraction / options.curriculumFraction))
                : allFacts;
        const double lr = warmupCosineLearningRate(step, totalSteps, options.warmupSteps,
                                                   options.learningRate, options.minLearningRateFraction);

        double stepAnswerLoss = 0.0;
        double stepContextLoss = 0.0;
        // Up to contextsPerStep contexts, fewer once they hold contextTokensPerStep tokens: many short
        // contexts teach where facts are, a few long ones that they can be anywhere.
        std::vector<DemoContext> contexts;
        std::vector<std::vector<std::int64_t>> contextIdLists;
        std::int64_t stepContextTokens = 0;
        while (int(contexts.size()) < options.contextsPerStep &&
               (options.contextTokensPerStep <= 0 || stepContextTokens < options.contextTokensPerStep)) {
            DemoRules rules = generator.drawRules();
            // Early contexts state only a few of the facts: with little to search through, the
            // model first learns to find a value at all, then to find it among many.
            while (int(rules.facts.size()) > factCount)
                rules.facts.erase(rules.facts.begin() +
                                  std::ptrdiff_t(mixSeed(factState++, 11) % rules.facts.size()));
            contexts.push_back(
                generator.contextWithRules(rules, drawContextLength(lengthState, lowTokens, highTokens)));
            contextIdLists.push_back(encodeIds(tokenizer, contexts.back().text));
            stepContextTokens += std::int64_t(contextIdLists.back().size());
        }
        const double contextCount = double(contexts.size());
        for (std::size_t c = 0; c < contexts.size(); ++c) {
            const DemoContext& context = contexts[c];
            const std::vector<std::int64_t>& contextIds = contextIdLists[c];
            const std::int64_t contextLength = std::int64_t(contextIds.size());
            const at::Tensor contextTensor =
                at::tensor(contextIds, at::kLong).view({1, contextLength}); // [1, P]

            // The context, with the LM loss on a sample of its positions.
            model::ForwardInput contextInput;
            contextInput.inputsEmbeds = lm->embed(contextTensor.to(device)); // [1, P, d]
            contextInput.positions = at::arange(contextLength, at::kLong).view({1, contextLength}).to(device);
            contextInput.attentionMask = at::ones({1, contextLength}, at::kBool).to(device);
            contextInput.returnCache = true;
            std::vector<std::int64_t> scoredPositions; // positions p that predict token p + 1
            const std::int64_t candidates = contextLength - 1;
            if (options.contextLossPositions <= 0 || candidates <= options.contextLossPositions) {
                for (std::int64_t p = 0; p < candidates; ++p)
                    scoredPositions.push_back(p);
            } else {
                for (int s = 0; s < options.contextLossPositions; ++s)
                    scoredPositions.push_back(
                        std::int64_t(mixSeed(positionState++, 9) % std::uint64_t(candidates)));
            }
            contextInput.logitIndices = at::tensor(scoredPositions, at::kLong)
                                            .view({1, std::int64_t(scoredPositions.size())})
                                            .to(device);
            model::ForwardOutput contextOutput = lm->forward(contextInput); // logits [1, N, V]
            std::vector<std::int64_t> nextTokens;
            for (std::int64_t p : scoredPositions)
                nextTokens.push_back(contextIds[std::size_t(p + 1)]);
            const at::Tensor contextTargets = at::tensor(nextTokens, at::kLong).to(device); // [N]
            const at::Tensor contextLoss =
                at::nll_loss(at::log_softmax(contextOutput.logits[0], -1), contextTargets); // []

            // All queries at once, on top of the context's cache.
            std::vector<TokenizedQuery> queries;
            for (const DemoQuery& query : context.queries)
                queries.push_back(tokenizeQuery(tokenizer, query, endOfText));
            const AnswerBatch batch = makeAnswerBatch(queries, endOfText);
            const std::int64_t rows = batch.ids.size(0);
            const std::int64_t length = batch.ids.size(1);
            const model::KVCache past = contextOutput.cache.expandedTo(rows);
            model::ForwardInput queryInput;
            queryInput.inputsEmbeds = lm->embed(batch.ids.to(device)); // [Q, T, d]
            queryInput.positions = at::arange(contextLength, contextLength + length, at::kLong)
                                       .view({1, length})
                                       .expand({rows, length})
                                       .to(device);
            queryInput.attentionMask = at::ones({rows, contextLength + length}, at::kBool).to(device);
            queryInput.past = &past;
            queryInput.logitIndices = batch.logitIndices.to(device);
            const at::Tensor answerLogits = lm->forward(queryInput).logits; // [Q, N, V]
            const at::Tensor answerLoss =
                at::nll_loss(at::log_softmax(answerLogits.reshape({-1, answerLogits.size(2)}), -1),
                             batch.targets.reshape({-1}).to(device), {}, at::Reduction::Mean, -100); // []

            const at::Tensor loss = (answerLoss + options.contextLossWeight * contextLoss) / contextCount;
            loss.backward();
            stepAnswerLoss += answerLoss.item<double>() / contextCount;
            stepContextLoss += contextLoss.item<double>() / contextCount;
        }
        if (!std::isfinite(stepAnswerLoss) || !std::isfinite(stepContextLoss))
            throw Error("pretrain-demo: the loss became " + std::to_string(stepAnswerLoss) + " at step " +
                        std::to_string(step + 1) +
                        "; training diverged. Lower the learning rate (--lr) or "
                        "raise the warm-up, and run again");
        optimizer.clipGradients(options.gradClip);
        optimizer.step(lr);

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
