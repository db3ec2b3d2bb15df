// `softprompt bench train`: what one training step costs and how close it runs to this machine's
// matrix-multiply speed, and what the cached teacher saves, measured in one run.
#include "engine/engine_model.h"
#include "softprompt/benchmarks.h"
#include "engine/task.h"
#include "model/bench_timing.h"
#include "model/loaded_model.h"
#include "model/handle_access.h"

#include "softprompt/error.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

namespace sp {

namespace {

using Clock = std::chrono::steady_clock;

// Plain English, repeated to the context length the benchmark asks for.
const char* const kBenchText =
    "The workbench compresses a long instruction context into a handful of learned vectors. "
    "Every reply starts with a short greeting, uses British spelling, and ends with a numbered list "
    "of the three most relevant points. Product names are written in capitals; prices are given in "
    "euros with two decimals. When a question is ambiguous, the assistant asks one clarifying "
    "question before it answers. Dates follow the ISO format, and times use the 24-hour clock. ";

using model::median;

// Up to `repeats` timings, fewer once they have taken 20 s in all (a 0.5B model's full-context
// recompute takes 90 s on 2 cores: one timing says enough).
double medianSeconds(int repeats, const std::function<void()>& work)
{
    std::vector<double> seconds;
    double total = 0.0;
    for (int i = 0; i < repeats && total < 20.0; ++i) {
        seconds.push_back(model::secondsOf(work));
        total += seconds.back();
    }
    return median(seconds);
}

// (in, out) of each weight matrix of one decoder layer, as the frozen model holds them (q/k/v and
// gate/up fused; GPT-2: c_attn, c_proj, c_fc, mlp c_proj).
std::vector<std::pair<std::int64_t, std::int64_t>> layerMatrixShapes(const ModelConfig& config)
{
    const std::int64_t d = config.hiddenSize;
    const std::int64_t inner = config.intermediateSize;
    if (config.architecture == Architecture::Gpt2)
        return {{d, 3 * d}, {d, d}, {d, inner}, {inner, d}};
    const std::int64_t attentionWidth = config.numHeads * config.headDim;
    const std::int64_t kvWidth = config.numKeyValueHeads * config.headDim;
    return {{d, attentionWidth + 2 * kvWidth}, {attentionWidth, d}, {d, 2 * inner}, {inner, d}};
}

// Floating-point operations of one student training step as the trainer runs it: the shared
// prefix (BOS ⊕ σ, `prefix` tokens) once, then `batch` rows of `width` tokens on its KV cache, logits
// only at `scored` positions per row; forward plus backward to the inputs only (the weights are
// frozen: one product per weight matrix, dX = dY Wᵀ, and two per attention product).
double stepFlops(const ModelConfig& config, std::int64_t prefix, std::int64_t batch, std::int64_t width,
                 std::int64_t scored)
{
    const double d = double(config.hiddenSize);
    const double heads = double(config.numHeads * config.headDim);
    const double layers = double(config.numLayers);
    double layerWeights = 0.0;
    for (const auto& [in, out] : layerMatrixShapes(config))
        layerWeights += double(in) * double(out);
    const double tokens = double(prefix + batch * width);
    const double matmulForward = 2.0 * tokens * layerWeights * layers;
    // Scores and weighted values: 2 products of 2·Dh flops per (query, key) pair and head.
    const double pairs = double(prefix * prefix) + double(batch * width) * double(prefix + width);
    const double attentionForward = 4.0 * pairs * heads * layers;
    const double headForward = 2.0 * double(batch * scored) * d * double(config.vocabSize);
    return 2.0 * matmulForward + 3.0 * attentionForward + 2.0 * headForward;
}

// The step's weight products alone, at this machine's GEMM speed: every layer's matrices
// (layerMatrixShapes) times the prefix's rows and the batch's rows, forward (Y = X Wᵀ) and backward
// to the inputs (dX = dY W), and the head at the scored rows. Distinct matrices per layer, so that
// the replay streams as much memory as the step does.
struct GemmReplay {
    double seconds = 0.0; // median of the timed replays
    double flops = 0.0;
};

GemmReplay replayStepGemms(const ModelConfig& config, const std::vector<std::int64_t>& rowCounts,
                           std::int64_t scoredRows, const at::TensorOptions& options, int repeats)
{
    const std::vector<std::pair<std::int64_t, std::int64_t>> layerShapes = layerMatrixShapes(config);
    struct Product {
        at::Tensor weight; // [out, in]
        std::int64_t rows;
    };
    std::vector<Product> products;
    std::vector<at::Tensor> weights;
    for (std::int64_t layer = 0; layer < config.numLayers; ++layer)
        for (const auto& [in, out] : layerShapes)
            weights.push_back(at::full({out, in}, 0.01, options));
    for (std::int64_t rows : rowCounts)
        for (const at::Tensor& weight : weights)
            products.push_back({weight, rows});
    products.push_back({at::full({config.vocabSize, config.hiddenSize}, 0.01, options), scoredRows});

    GemmReplay replay;
    std::map<std::pair<std::int64_t, std::int64_t>, at::Tensor> inputs; // (rows, width) -> [rows, width]
    auto input = [&](std::int64_t rows, std::int64_t width) -> const at::Tensor& {
        at::Tensor& tensor = inputs[{rows, width}];
        if (!tensor.defined())
            tensor = at::full({rows, width}, 0.01, options);
        return tensor;
    };
    for (const Product& product : products) {
        const double macs = double(product.rows) * double(product.weight.size(0)) * double(product.weight.size(1));
        replay.flops += 2.0 * 2.0 * macs; // forward and backward to the inputs
    }
    std::vector<double> seconds;
    for (int i = 0; i <= repeats; ++i) {
        const double once = model::secondsOf([&] {
            at::Tensor last;
            for (const Product& product : products) {
                last = at::mm(input(product.rows, product.weight.size(1)), product.weight.t()); // [M, out]
                last = at::mm(input(product.rows, product.weight.size(0)), product.weight);     // [M, in]
            }
            model::synchronise(last);
        });
        if (i > 0) // the first replay pays for first-touch allocations
            seconds.push_back(once);
    }
    replay.seconds = median(seconds);
    return replay;
}

} // namespace

bool trainBenchOptionsValid(const TrainBenchOptions& options)
{
    return options.steps >= 5 && options.k >= 1 && options.batchSize >= 1 && options.contextTokens >= 16 &&
           options.queries >= 2;
}

nlohmann::json engine::runTrainBenchmark(CompressionTask::Impl& task, const std::string& modelName,
                                         const TrainBenchOptions& options)
{
    if (!trainBenchOptionsValid(options))
        throw Error(
            "the training benchmark needs ≥ 5 steps, k ≥ 1, a batch of ≥ 1 queries, a context of ≥ 16 tokens "
            "and ≥ 2 queries");
    const model::CausalLM& lm = *task.model.lm;
    const ModelConfig& config = lm.config();

    // Exact lengths: a context of contextTokens tokens, queries of queryTokens tokens each.
    std::vector<std::int32_t> text;
    while (std::int64_t(text.size()) < options.contextTokens + 64) {
        const std::vector<std::int32_t> ids = task.model.encode(kBenchText);
        if (ids.empty())
            throw Error("the model's tokenizer produced no tokens for the benchmark text");
        text.insert(text.end(), ids.begin(), ids.end());
    }
    const std::int64_t queryTokens = 12;
    std::vector<std::int32_t> context(text.begin(), text.begin() + options.contextTokens);
    std::vector<std::vector<std::int32_t>> queries;
    for (int i = 0; i < options.queries; ++i) {
        const auto start = std::size_t((i * 7) % 50);
        queries.emplace_back(text.begin() + std::ptrdiff_t(start),
                             text.begin() + std::ptrdiff_t(start + queryTokens));
    }
    task.setTokenIds(context, queries);

    TrainConfig train;
    train.k = options.k;
    train.steps = options.steps;
    train.batchSize = options.batchSize;
    train.evalInterval = 0;
    train.checkpointInterval = 0;
    train.heldoutFraction = 0.0;
    train.seed = options.seed;
    train.device = lm.device().is_cuda() ? "cuda" : "cpu";
    train.continuationLength = 1;
    task.validate(train);

    // The teacher, computed once (timed cold).
    engine::TeacherCache::instance().clear();
    const Clock::time_point teacherStart = Clock::now();
    const auto records = task.teacher(train, nullptr);
    const double teacherSeconds = std::chrono::duration<double>(Clock::now() - teacherStart).count();

    // Training steps.
    std::vector<double> stepSeconds, tokensPerSecond;
    TrainCallbacks callbacks;
    callbacks.onStep = [&](const StepReport& report) {
        if (report.step > 3) { // the first steps pay for allocations
            stepSeconds.push_back(report.stepSeconds);
            tokensPerSecond.push_back(report.tokensPerSecond);
        }
    };
    TrainControl control;
    const TrainResult result = task.train(train, callbacks, control, nullptr);
    if (result.status != RunStatus::Finished)
        throw Error("the benchmark run did not finish: " + result.error);
    const double step = median(stepSeconds);
    const std::int64_t batch = std::min<std::int64_t>(options.batchSize, std::int64_t(queries.size()));
    const std::int64_t prefixTokens = std::int64_t(task.preIds.size() + task.midIds.size()) + options.k;
    const std::int64_t width = prefixTokens + queryTokens;
    const double flops = batch > 1 ? stepFlops(config, prefixTokens, batch, queryTokens, 1)
                                   : stepFlops(config, 0, 1, width, 1);

    // Teacher per step without the cache (the whole context again for every query of the batch)
    // against the cached context prefix (only the query tokens).
    const auto contextState = task.contextState();
    std::vector<std::vector<std::int32_t>> fullRows, queryRows;
    for (std::int64_t b = 0; b < batch; ++b) {
        std::vector<std::int32_t> row = task.preIds;
        row.insert(row.end(), context.begin(), context.end());
        row.insert(row.end(), task.midIds.begin(), task.midIds.end());
        row.insert(row.end(), queries[std::size_t(b)].begin(), queries[std::size_t(b)].end());
        fullRows.push_back(std::move(row));
        queryRows.push_back(queries[std::size_t(b)]);
    }
    const engine::PrefixState empty;
    const engine::RowBatch fullBatch = engine::makeRowBatch(fullRows, 0, lm.device());
    const engine::RowBatch queryBatch =
        engine::makeRowBatch(queryRows, contextState->prefix.length, lm.device());
    const double recompute = medianSeconds(5, [&] { engine::forwardRows(lm, empty, fullBatch, false); });
    const double cached =
        medianSeconds(9, [&] { engine::forwardRows(lm, contextState->prefix, queryBatch, false); });

    const std::vector<std::int64_t> rowCounts = batch > 1 ? std::vector<std::int64_t>{prefixTokens, batch * queryTokens}
                                                          : std::vector<std::int64_t>{width};
    const GemmReplay replay =
        replayStepGemms(config, rowCounts, batch, at::TensorOptions().device(lm.device()).dtype(lm.dtype()), 7);

    const std::int64_t inner = std::max<std::int64_t>(config.intermediateSize, config.hiddenSize);
    // The same statistic as the step time (the median), so that both see the same share of a busy
    // machine; in the model's dtype, so that a bfloat16 run is set against bfloat16 products.
    const at::TensorOptions gemmOptions = at::TensorOptions().device(lm.device()).dtype(lm.dtype());
    const double gemmSquare = model::medianGemmGflops(1024, 1024, 1024, gemmOptions, 15);
    const double gemmShaped =
        model::medianGemmGflops(batch * queryTokens, config.hiddenSize, inner, gemmOptions, 51);
    const double achieved = flops / step / 1e9;
    const double fastestStep = *std::min_element(stepSeconds.begin(), stepSeconds.end());

    nlohmann::json json;
    json["benchmark"] = "train";
    json["model"] = modelName;
    json["model_type"] = config.modelType;
    json["parameters"] = config.parameterCount();
    json["hidden_size"] = config.hiddenSize;
    json["layers"] = config.numLayers;
    json["vocab_size"] = config.vocabSize;
    json["device"] = lm.device().str();
    json["dtype"] = model::dtypeLabel(lm.weightDtype());         // the weights as held in memory
    json["compute_dtype"] = model::dtypeLabel(lm.dtype());       // float32 for half weights on the CPU
    json["threads"] = at::get_num_threads();
    json["context_tokens"] = options.contextTokens;
    json["query_tokens"] = queryTokens;
    json["context_to_query_ratio"] = double(options.contextTokens) / double(queryTokens);
    json["k"] = options.k;
    json["batch"] = batch;
    json["steps"] = options.steps;
    json["step_seconds_median"] = step;
    json["steps_per_second"] = 1.0 / step;
    json["tokens_per_second"] = median(tokensPerSecond);
    json["model_gflop_per_step"] = flops / 1e9;
    json["achieved_gflops"] = achieved;
    json["achieved_gflops_fastest_step"] = flops / fastestStep / 1e9;
    json["gemm_gflops_1024"] = gemmSquare;
    json["gemm_gflops_model_shape"] = gemmShaped;
    json["fraction_of_gemm_1024"] = achieved / gemmSquare;
    json["fraction_of_gemm_model_shape"] = achieved / gemmShaped;
    // The step set against its own weight products run back to back as bare GEMMs (the same shapes,
    // the same dtype, measured in this run): the share of the step that the products would take at
    // this machine's GEMM speed. 1.0 means all other work (attention, norms, the loss, the update,
    // allocations) costs nothing.
    json["gemm_same_shapes"] = {
        {"seconds", replay.seconds},
        {"gflop", replay.flops / 1e9},
        {"gflops", replay.flops / replay.seconds / 1e9},
        {"step_linear_gflops", replay.flops / step / 1e9},
    };
    json["fraction_of_gemm_same_shapes"] = replay.seconds / step;
    json["teacher"] = {
        {"compute_once_seconds", teacherSeconds},
        {"queries", records.size()},
        {"recompute_full_context_seconds_per_step", recompute},
        {"cached_context_seconds_per_step", cached},
        {"cache_speedup", recompute / cached},
        {"step_seconds_with_recompute", step + recompute},
        {"step_speedup_vs_recompute", (step + recompute) / step},
    };
    json["initial_s"] = result.initialTrainS;
    json["final_s"] = result.finalTrainS;
    return json;
}

nlohmann::json benchmarkTraining(const ModelHandle& model, const TrainBenchOptions& options)
{
    if (!model.isLoaded())
        throw Error("no model is loaded");
    auto impl = engine::makeTaskImpl(
        engine::engineModelFromHandle(model), "benchmark",
        std::vector<Query>(std::size_t(std::max(options.queries, 0)), Query{"q", "", false}));
    return engine::runTrainBenchmark(*impl, model.summary().name, options);
}

nlohmann::json benchmarkTrainingOnRandomModel(const std::string& preset, const TrainBenchOptions& options)
{
    const ModelConfig config = randomModelConfig(preset);
    engine::EngineModel model;
    model.lm = model::CausalLM::createRandom(config, options.seed + 1);
    engine::useByteLevelCodec(model); // ids 0–255 are in every preset's vocabulary
    if (config.bosTokenId)
        model.prefixIds = {std::int32_t(*config.bosTokenId)};
    for (const std::int64_t id : config.eosTokenIds)
        model.stopIds.push_back(std::int32_t(id));
    model.identity = "bench-random-" + preset + "-" + std::to_string(options.seed);
    auto impl = engine::makeTaskImpl(
        std::move(model), kBenchText,
        std::vector<Query>(std::size_t(std::max(options.queries, 0)), Query{"q", "", false}));
    return engine::runTrainBenchmark(*impl, "random " + preset + " (byte-level text)", options);
}

SigmaStepBenchmark benchmarkSigmaStep(const ModelHandle& handle, int k, int batch, int queryTokens, int steps)
{
    if (k < 1 || batch < 1 || queryTokens < 1 || steps < 1)
        throw Error("the σ step benchmark needs k, batch, query tokens and steps of at least 1");
    const model::CausalLM& lm = model::loadedModel(handle).model();
    const ModelConfig& config = lm.config();
    const at::Device device = lm.device();
    at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(7);
    // σ in float32, as the trainer keeps it, at the scale of the model's embeddings.
    at::Tensor sigma = (at::randn({k, config.hiddenSize}, generator) * 0.02).to(device).requires_grad_(true);
    at::Tensor bos; // [1, d]
    if (config.bosTokenId)
        bos = lm.embed(at::full({1, 1}, *config.bosTokenId, at::kLong).to(device))[0].to(at::kFloat);
    const at::Tensor ids = at::randint(config.vocabSize, {batch, queryTokens}, generator, at::kLong).to(device);
    const at::Tensor targets = at::randint(config.vocabSize, {batch}, generator, at::kLong).to(device); // [B]
    at::Tensor rowEmbeds; // [B, T, d]
    {
        at::NoGradGuard noGrad;
        rowEmbeds = lm.embed(ids);
    }
    const std::vector<std::int64_t> lengths(std::size_t(batch), queryTokens);
    const at::Tensor targetIndex = at::full({batch, 1}, queryTokens - 1, at::TensorOptions().dtype(at::kLong).device(device));

    std::vector<double> seconds;
    for (int step = 0; step < steps; ++step) {
        seconds.push_back(model::secondsOf([&] {
            const at::Tensor prefix = bos.defined() ? at::cat({bos, sigma}, 0) : sigma; // [P0, d]
            const at::Tensor logits =
                engine::studentTargetLogits(lm, prefix, rowEmbeds, lengths, targetIndex); // [B, 1, V]
            const at::Tensor loss =
                at::nll_loss(at::log_softmax(logits.view({batch, config.vocabSize}), -1), targets);
            loss.backward();
            at::NoGradGuard noGrad;
            sigma.sub_(sigma.grad() * 1e-3);
            sigma.mutable_grad().zero_();
            model::synchronise(sigma);
        }));
    }
    SigmaStepBenchmark result;
    result.k = k;
    result.batch = batch;
    result.queryTokens = queryTokens;
    result.steps = steps;
    result.firstStepSeconds = seconds.front();
    result.stepSecondsMedian = median(steps > 1 ? std::vector<double>(seconds.begin() + 1, seconds.end()) : seconds);
    result.stepsPerSecond = 1.0 / result.stepSecondsMedian;
    return result;
}

} // namespace sp
