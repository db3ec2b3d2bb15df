#pragma once
// The benchmarks behind `softprompt bench model` and `softprompt bench train`: what a model costs to
// load, prefill and decode, and how fast σ trains next to this machine's GEMM throughput. Kept out of
// engine.h and model_handle.h: a front end needs those to do its work, these only to measure it.
#include "softprompt/model_handle.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace sp {

// ---- a model: load, prefill, decode (softprompt bench model) ------------------------------------
struct ModelBenchmark {
    double loadSeconds = 0.0;     // weights and tokenizer, as ModelHandle::load did them
    double identitySeconds = 0.0; // hashing config + weights (fast when the digest cache knows them)
    int threads = 0;              // CPU threads LibTorch used
    int prefillTokens = 0;
    double prefillSeconds = 0.0; // best forward over prefillTokens (last position's logits only)
    double prefillTokensPerSecond = 0.0;
    double prefillGflop = 0.0; // matrix-multiply work of that forward
    double prefillGflopPerSecond = 0.0;
    double prefillAllLogitsTokensPerSecond = 0.0; // the same forward with logits at every position
    int decodeTokens = 0;
    double decodeTokensPerSecond = 0.0; // median greedy step with the KV cache after a 128-token prompt
    double gemmGflopPerSecond = 0.0;    // best GEMM of the MLP's shape, interleaved with the prefills
    std::string gemmShape;              // "MxKxN"
};
// prefillRepeats 1 (large models): one prefill, no warm-up and no all-logits variant; decodeTokens 0:
// no decode measurement.
ModelBenchmark benchmarkModel(const ModelHandle& model, int prefillTokens = 512, int decodeTokens = 32,
                              int prefillRepeats = 3);

// ---- σ training (softprompt bench train, and the σ step in bench model) --------------------------
struct TrainBenchOptions {
    int steps = 30;
    int k = 8;
    int batchSize = 8;
    int contextTokens = 512; // about; the context is real text repeated to this length
    int queries = 16;
    std::uint64_t seed = 0;
};
// What the training benchmark accepts: ≥ 5 steps, k ≥ 1, a batch of ≥ 1, a context of ≥ 16 tokens
// and ≥ 2 queries. benchmarkTraining*() refuse anything else; a front end checks it first to refuse
// in its own words before a model is loaded.
bool trainBenchOptionsValid(const TrainBenchOptions& options);
// `softprompt bench train`: steps/s, tokens/s, achieved model GFLOP/s next to this machine's GEMM
// GFLOP/s, and the teacher-cache speedup, all measured in one run on `model`.
nlohmann::json benchmarkTraining(const ModelHandle& model, const TrainBenchOptions& options);
// The same on a seeded random model of a published shape (randomModelPresets(): "tiny",
// "smollm-135m", "qwen2.5-0.5b", ...), fed byte-level text, for machines without a model folder.
nlohmann::json benchmarkTrainingOnRandomModel(const std::string& preset, const TrainBenchOptions& options);

// One σ training step as the trainer runs it (BOS ⊕ σ once, `batch` rows of `queryTokens` random
// tokens on its KV cache, the next-token NLL at each row's last position, backward to σ, an update),
// timed `steps` times (`softprompt bench model`, whose JSON reports it beside the peak RSS).
struct SigmaStepBenchmark {
    int k = 0;
    int batch = 0;
    int queryTokens = 0;
    int steps = 0;
    double firstStepSeconds = 0.0; // includes first-touch allocations
    double stepSecondsMedian = 0.0;
    double stepsPerSecond = 0.0; // 1 / median
};
SigmaStepBenchmark benchmarkSigmaStep(const ModelHandle& model, int k = 8, int batch = 4, int queryTokens = 16,
                                      int steps = 3);

} // namespace sp
