// How much memory a model needs before it is loaded, and how much this process has: the check that
// refuses a model that does not fit with advice instead of being killed for it.
#include "model/loaded_model.h"
#include "softprompt/error.h"
#include "softprompt/model_config.h"
#include "softprompt/model_handle.h"
#include "softprompt/paths.h"
#include "softprompt/safetensors.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace sp {

namespace {

// Tokens of context the working-memory estimate allows for (the teacher's context prefill).
constexpr std::int64_t kEstimateContextTokens = 2048;
// LibTorch, its allocator and thread pools, the tokenizer and the app itself.
constexpr std::int64_t kRuntimeBytes = std::int64_t(300) << 20;

std::int64_t bytesPerValue(at::ScalarType type)
{
    return std::int64_t(c10::elementSize(type));
}

// A number from a cgroup or /proc file, -1 when absent or "max".
std::int64_t readNumber(const std::string& path)
{
    std::ifstream file(path);
    std::string text;
    if (!file || !(file >> text) || text == "max")
        return -1;
    try {
        return std::stoll(text);
    } catch (const std::exception&) {
        return -1;
    }
}

} // namespace

std::string formatBytes(std::int64_t bytes)
{
    char text[32];
    const double value = double(bytes);
    if (value >= 1e9)
        std::snprintf(text, sizeof text, "%.1f GB", value / 1e9);
    else
        std::snprintf(text, sizeof text, "%.0f MB", value / 1e6);
    return text;
}

std::string MemoryEstimate::summary() const
{
    std::string text = "needs about " + formatBytes(requiredBytes);
    if (availableBytes >= 0)
        text += " (" + formatBytes(availableBytes) + " free)";
    return text;
}

std::int64_t availableMemoryBytes(std::string* source)
{
    std::int64_t available = -1;
    std::string from;
    std::ifstream meminfo("/proc/meminfo");
    std::string line;
    while (std::getline(meminfo, line)) {
        if (line.rfind("MemAvailable:", 0) == 0) {
            std::istringstream fields(line.substr(13));
            long long kilobytes = 0;
            if (fields >> kilobytes) {
                available = std::int64_t(kilobytes) * 1024;
                from = "MemAvailable in /proc/meminfo";
            }
        }
    }
    // cgroup v2, then v1: a container's limit can be far below what the machine has free.
    struct Limit {
        const char* limit;
        const char* usage;
        const char* name;
    };
    for (const Limit& cgroup : {Limit{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current",
                                      "the cgroup's memory.max"},
                                Limit{"/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                      "/sys/fs/cgroup/memory/memory.usage_in_bytes",
                                      "the cgroup's memory.limit_in_bytes"}}) {
        const std::int64_t limit = readNumber(cgroup.limit);
        const std::int64_t usage = readNumber(cgroup.usage);
        // v1 reports "no limit" as a huge number.
        if (limit <= 0 || usage < 0 || limit >= (std::int64_t(1) << 60))
            continue;
        const std::int64_t left = std::max<std::int64_t>(0, limit - usage);
        if (available < 0 || left < available) {
            available = left;
            from = cgroup.name;
        }
        break;
    }
    if (source)
        *source = from;
    return available;
}

MemoryEstimate estimateModelMemory(const std::string& pathOrDemo, const ModelLoadOptions& options)
{
    const std::string folder = model::resolveModelFolder(pathOrDemo);
    const ModelConfig config = ModelConfig::fromFile(folder);
    const at::ScalarType weightType = model::parseDtype(options.dtype);
    const bool halfWeights = weightType == at::kHalf || weightType == at::kBFloat16;
    const bool onCpu = options.device.empty() || options.device == "cpu";
    model::HalfCompute compute = model::halfComputeFromName(options.halfCompute);
    if (compute == model::HalfCompute::Auto)
        compute = onCpu ? model::HalfCompute::Float32 : model::HalfCompute::Native;
    const at::ScalarType computeType =
        halfWeights && compute == model::HalfCompute::Float32 ? at::kFloat : weightType;

    MemoryEstimate estimate;
    estimate.dtype = model::dtypeLabel(weightType);
    // Exact parameter counts from the safetensors headers (mapping a file reads only its header).
    const SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint::openFolder(folder);
    std::int64_t largestMatrix = 0;
    for (const std::string& name : checkpoint.names()) {
        const TensorView& view = checkpoint.tensor(name);
        const std::int64_t count = view.elementCount();
        estimate.parameters += count;
        if (view.shape.size() >= 2)
            largestMatrix = std::max(largestMatrix, count);
        // Matrices are kept in the requested dtype, vectors (norms, biases) in the compute dtype.
        estimate.weightBytes += count * bytesPerValue(view.shape.size() >= 2 ? weightType : computeType);
    }

    const std::int64_t tokens = std::min(kEstimateContextTokens, config.maxPositionEmbeddings);
    const std::int64_t value = bytesPerValue(computeType);
    const std::int64_t kvWidth = config.numKeyValueHeads * config.headDim;
    const std::int64_t queryWidth = config.numHeads * config.headDim;
    const std::int64_t kvCache = config.numLayers * 2 * kvWidth * tokens * value;
    // One layer's activations over the context (q/k/v, gate/up, residual) and a 128-row block of
    // float32 attention scores.
    const std::int64_t layer = tokens * (queryWidth + 2 * kvWidth + 3 * config.intermediateSize +
                                         4 * config.hiddenSize) * value +
                               128 * tokens * config.numHeads * 4;
    // The pruning surprisal's chunk of 256 positions' logits and their log-softmax, in float32.
    const std::int64_t logits = 2 * 256 * config.vocabSize * 4;
    // Float32 blocks of converted half-precision weights (16 MB each; forward and backward).
    const std::int64_t converted =
        computeType != weightType ? 2 * std::min(std::int64_t(16) << 20, largestMatrix * value) : 0;
    estimate.workingBytes = kvCache + layer + logits + converted + kRuntimeBytes;
    estimate.requiredBytes = estimate.weightBytes + estimate.workingBytes;
    if (options.availableMemoryBytes > 0) {
        estimate.availableBytes = options.availableMemoryBytes;
        estimate.availableSource = "the memory given to the loader";
    } else {
        estimate.availableBytes = availableMemoryBytes(&estimate.availableSource);
    }
    return estimate;
}

} // namespace sp
