// softprompt bench model: load time, prefill and decode throughput, and the prefill's achieved
// GFLOP/s next to a GEMM of the model's own MLP shape measured in the same run.
#include "model/bench_timing.h"
#include "model/causal_lm.h"
#include "model/loaded_model.h"
#include "model/handle_access.h"
#include "softprompt/error.h"
#include "softprompt/model_handle.h"
#include "softprompt/model_shape.h"
#include "softprompt/benchmarks.h"
#include "softprompt/text.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>

namespace sp {

namespace {

// Matrix-multiply FLOPs of one forward over `length` new tokens with logits at `logitPositions`.
double forwardFlops(const ModelConfig& c, double length, double logitPositions)
{
    const double d = double(c.hiddenSize);
    const double attentionWidth = double(c.numHeads * c.headDim);
    const double kvWidth = double(c.numKeyValueHeads * c.headDim);
    const double inner = double(c.intermediateSize);
    const double mlpMatrices = c.architecture == Architecture::Gpt2 ? 2.0 : 3.0;
    const double perLayer = 2 * length * d * (attentionWidth + 2 * kvWidth) // q, k, v
                            + 2 * length * attentionWidth * d               // o
                            + 4 * length * length * attentionWidth          // QK^T and PV (full square)
                            + mlpMatrices * 2 * length * d * inner;
    return double(c.numLayers) * perLayer + 2 * logitPositions * d * double(c.vocabSize);
}

at::Tensor randomIds(std::int64_t length, std::int64_t vocab, std::uint64_t seed)
{
    at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(seed);
    return at::randint(vocab, {1, length}, generator, at::kLong); // [1, T]
}

} // namespace

ModelBenchmark benchmarkModel(const ModelHandle& handle, int prefillTokens, int decodeTokens, int prefillRepeats)
{
    const model::LoadedModel& loaded = model::loadedModel(handle);
    const model::CausalLM& model = loaded.model();
    const ModelConfig& config = model.config();
    if (prefillTokens < 1 || decodeTokens < 0 || prefillRepeats < 1)
        throw Error("the prefill length and repeats must be at least 1, the decode length at least 0");
    const std::int64_t window = loaded.summary().contextWindow;
    const std::int64_t length = std::min<std::int64_t>(prefillTokens, window);
    c10::InferenceMode inference;

    ModelBenchmark result;
    result.loadSeconds = loaded.loadSeconds();
    result.identitySeconds = loaded.identitySeconds();
    result.threads = at::get_num_threads();
    result.prefillTokens = int(length);

    const at::TensorOptions longOptions = at::TensorOptions().dtype(at::kLong).device(model.device());
    const at::Tensor ids = randomIds(length, config.vocabSize, 1).to(model.device()); // [1, T]
    model::ForwardInput lastOnly;
    lastOnly.inputsEmbeds = model.embed(ids);                                     // [1, T, d]
    lastOnly.positions = at::arange(length, longOptions).unsqueeze(0);            // [1, T]
    lastOnly.attentionMask = at::ones({1, length}, longOptions.dtype(at::kBool)); // [1, T]
    lastOnly.logitIndices = at::full({1, 1}, length - 1, longOptions); // generation needs the last only
    if (prefillRepeats > 1)
        model::synchronise(model.forward(lastOnly).logits); // warm-up: allocator, thread pool, page faults

    // The machine's GEMM rate on the MLP's own shape [T, d] x [d, I] in the model's dtype,
    // interleaved with the prefills so that both see the same machine load; best of each.
    model::GemmProbe gemm(length, config.hiddenSize, config.intermediateSize,
                          at::TensorOptions().dtype(model.dtype()).device(model.device()), /*keepOperands=*/false);
    std::vector<double> prefillTimes, gemmTimes;
    const auto measureStart = std::chrono::steady_clock::now();
    auto measuredSeconds = [&] {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - measureStart).count();
    };
    while (prefillTimes.size() < std::size_t(prefillRepeats) ||
           (prefillRepeats > 1 && measuredSeconds() < 3.0 && prefillTimes.size() < 20)) {
        prefillTimes.push_back(model::secondsOf([&] { model::synchronise(model.forward(lastOnly).logits); }));
        for (int repeat = 0; repeat < 3; ++repeat)
            gemmTimes.push_back(gemm.timeOnce());
    }
    result.prefillSeconds = model::minimum(prefillTimes);
    result.prefillTokensPerSecond = double(length) / result.prefillSeconds;
    result.prefillGflop = forwardFlops(config, double(length), 1.0) / 1e9;
    result.prefillGflopPerSecond = result.prefillGflop / result.prefillSeconds;
    result.gemmGflopPerSecond = gemm.gflops(model::minimum(gemmTimes));
    result.gemmShape = gemm.shape();
    if (prefillRepeats > 1) { // a single-repeat run (large models) skips the all-logits variant
        std::vector<double> allLogitsTimes;
        for (int repeat = 0; repeat < 2; ++repeat)
            allLogitsTimes.push_back(
                model::secondsOf([&] { model::synchronise(model.forwardIds(ids).logits); }));
        result.prefillAllLogitsTokensPerSecond = double(length) / model::minimum(allLogitsTimes);
    }
    if (decodeTokens == 0)
        return result;

    // Decode: a 128-token prompt, then one token at a time through the KV cache.
    const std::int64_t promptLength =
        std::min<std::int64_t>(128, std::max<std::int64_t>(1, window - decodeTokens));
    const std::int64_t steps = std::min<std::int64_t>(decodeTokens, window - promptLength);
    if (steps < 1)
        throw Error("the model's window of " + std::to_string(window) +
                    " positions leaves no room to decode");
    model::ForwardOutput output =
        model.forwardIds(randomIds(promptLength, config.vocabSize, 2).to(model.device()), nullptr, true);
    std::vector<double> stepTimes;
    for (std::int64_t step = 0; step < steps; ++step) {
        stepTimes.push_back(model::secondsOf([&] {
            const std::int64_t next = output.logits[0][-1].argmax().item<std::int64_t>();
            const model::KVCache cache = std::move(output.cache);
            output = model.forwardIds(at::full({1, 1}, next, longOptions), &cache, true);
            model::synchronise(output.logits);
        }));
    }
    result.decodeTokens = int(steps);
    result.decodeTokensPerSecond =
        1.0 / model::median(stepTimes); // the median step: robust to a noisy machine
    return result;
}

ProcessMemory processMemory()
{
    ProcessMemory memory;
    memory.residentBytes = model::residentBytes();
    memory.peakResidentBytes = model::peakResidentBytes();
    return memory;
}

std::int64_t modelWeightBytes(const ModelHandle& handle)
{
    std::int64_t bytes = 0;
    for (const auto& [name, tensor] : model::loadedModel(handle).model().namedParameters())
        bytes += tensor.numel() * std::int64_t(tensor.element_size());
    return bytes;
}

std::vector<std::string> randomModelPresets()
{
    return {"tiny", "smollm-135m", "gpt2-small", "qwen2.5-0.5b", "llama-3.2-1b", "llama-3-8b"};
}

bool randomPresetMadeInMemory(const std::string& preset)
{
    return preset == "qwen2.5-0.5b" || preset == "llama-3.2-1b" || preset == "llama-3-8b";
}

ModelConfig randomModelConfig(const std::string& preset)
{
    // ModelShape: vocabulary, hidden, intermediate, layers, heads, key/value heads, head dim, positions.
    ModelConfig config;
    if (preset == "tiny") {
        // 4 M parameters, Llama-style, with a 4,096-token vocabulary whose first 256 ids are bytes:
        // a model every machine trains in seconds.
        config = shapedModelConfig("llama", {4096, 256, 688, 4, 8, 8, 32, 2048});
        config.tieWordEmbeddings = true;
        config.bosTokenId = 256;
        config.eosTokenIds = {257};
    } else if (preset == "smollm-135m") {
        // HuggingFaceTB/SmolLM-135M's config.json.
        config = shapedModelConfig("llama", {49152, 576, 1536, 30, 9, 3, 64, 2048});
        config.ropeTheta = 10000.0;
        config.tieWordEmbeddings = true;
        config.bosTokenId = 0;
        config.eosTokenIds = {0};
    } else if (preset == "gpt2-small") {
        // openai-community/gpt2's config.json.
        config = shapedModelConfig("gpt2", {50257, 768, 3072, 12, 12, 12, 64, 1024});
        config.attentionBias = true;
        config.bosTokenId = 50256;
        config.eosTokenIds = {50256};
    } else if (preset == "qwen2.5-0.5b") {
        // Qwen/Qwen2.5-0.5B's config.json (494M parameters, tied head, q/k/v biases).
        config = shapedModelConfig("qwen2", {151936, 896, 4864, 24, 14, 2, 64, 32768});
        config.normEpsilon = 1e-6;
        config.ropeTheta = 1000000.0;
        config.tieWordEmbeddings = true;
        config.bosTokenId = 151643;
        config.eosTokenIds = {151643};
    } else if (preset == "llama-3.2-1b" || preset == "llama-3-8b") {
        // meta-llama/Llama-3.2-1B's and Llama-3.1-8B's config.json: rope theta 500000 with llama3 scaling.
        const bool large = preset == "llama-3-8b";
        config = shapedModelConfig("llama", large ? ModelShape{128256, 4096, 14336, 32, 32, 8, 128, 131072}
                                                  : ModelShape{128256, 2048, 8192, 16, 32, 8, 64, 131072});
        config.ropeTheta = 500000.0;
        config.ropeScaling.type = "llama3";
        config.ropeScaling.factor = large ? 8.0 : 32.0;
        config.ropeScaling.lowFreqFactor = 1.0;
        config.ropeScaling.highFreqFactor = 4.0;
        config.ropeScaling.originalMaxPositionEmbeddings = 8192;
        config.tieWordEmbeddings = !large;
        config.bosTokenId = 128000;
        config.eosTokenIds = {128001};
    } else {
        throw Error("unknown random model preset \"" + preset + "\"; known presets: " +
                    joinStrings(randomModelPresets(), ", "));
    }
    return config;
}

void writeRandomModel(const std::string& folder, const std::string& preset, std::uint64_t seed)
{
    model::CausalLM::createRandom(randomModelConfig(preset), seed)->save(folder);
}

ModelHandle ModelHandle::createRandom(const std::string& preset, const ModelLoadOptions& options,
                                      std::uint64_t seed)
{
    ModelHandle handle;
    handle.impl_ = model::LoadedModel::createRandom(randomModelConfig(preset), "random " + preset, options, seed);
    return handle;
}

} // namespace sp
