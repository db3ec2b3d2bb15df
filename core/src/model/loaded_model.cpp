#include "model/loaded_model.h"

#include "model/family.h"
#include "model/model_identity.h"
#include "softprompt/error.h"
#include "softprompt/paths.h"
#include "softprompt/safetensors.h"

#include <torch/cuda.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

namespace fs = std::filesystem;

namespace sp::model {

namespace {

double secondsSince(std::chrono::steady_clock::time_point start)
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Throws sp::Error, saying what to do, when the model would not fit in the memory that is free: an
// out-of-memory kill halfway through loading loses the user's session.
void refuseIfTooLarge(const std::string& folder, const ModelLoadOptions& options)
{
    const MemoryEstimate estimate = estimateModelMemory(folder, options);
    if (estimate.fits())
        return;
    std::string advice;
    Remedy remedy = Remedy::None;
    if (parseDtype(options.dtype) == at::kFloat) {
        ModelLoadOptions half = options;
        half.dtype = "bfloat16";
        const MemoryEstimate halfEstimate = estimateModelMemory(folder, half);
        advice = halfEstimate.fits()
                     ? "load it in bfloat16, which needs about " + formatBytes(halfEstimate.requiredBytes) +
                           ", or "
                     : "even in bfloat16 it needs about " + formatBytes(halfEstimate.requiredBytes) + "; ";
        if (halfEstimate.fits())
            remedy = Remedy::UseBfloat16;
    }
    throw Error(fileError(folder, "needs about " + formatBytes(estimate.requiredBytes) + " of memory in " +
                                      estimate.dtype + " (weights " + formatBytes(estimate.weightBytes) +
                                      " + " + formatBytes(estimate.workingBytes) + " to run), but only " +
                                      formatBytes(estimate.availableBytes) + " are free (" +
                                      estimate.availableSource + "). Not loaded: " + advice +
                                      "close other programs, or use a machine with more memory"),
                remedy);
}

} // namespace

// The summary fields that come from the model itself.
void describe(const CausalLM& model, ModelSummary& summary);

at::Device parseDevice(const std::string& name)
{
    if (name.empty() || name == "cpu")
        return at::kCPU;
    if (name == "cuda" || name.rfind("cuda:", 0) == 0) {
        if (!torch::cuda::is_available())
            throw Error("device \"" + name +
                            "\" requested, but CUDA is not available in this build or on this "
                            "machine; use the CPU",
                        Remedy::UseCpuDevice);
        int index = 0;
        if (name.size() > 5) {
            try {
                index = std::stoi(name.substr(5));
            } catch (const std::exception&) {
                throw Error("device \"" + name + "\" is not of the form cuda:N");
            }
        }
        const int count = int(torch::cuda::device_count());
        if (index < 0 || index >= count)
            throw Error("device \"" + name + "\" does not exist: this machine has " + std::to_string(count) +
                        " CUDA device(s)");
        return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(index));
    }
    throw Error("unknown device \"" + name + "\"; use cpu, cuda or cuda:N");
}

at::ScalarType parseDtype(const std::string& name)
{
    if (name.empty() || name == "float32" || name == "fp32")
        return at::kFloat;
    if (name == "float16" || name == "fp16" || name == "half")
        return at::kHalf;
    if (name == "bfloat16" || name == "bf16")
        return at::kBFloat16;
    throw Error("unknown dtype \"" + name + "\"; use float32, float16 or bfloat16");
}

std::string dtypeLabel(at::ScalarType dtype)
{
    switch (dtype) {
    case at::kHalf:
        return "float16";
    case at::kBFloat16:
        return "bfloat16";
    case at::kDouble:
        return "float64";
    default:
        return "float32";
    }
}

std::string resolveModelFolder(const std::string& pathOrDemo)
{
    if (pathOrDemo != "demo") {
        std::error_code error;
        if (!fs::is_directory(pathOrDemo, error))
            throw Error(fileError(pathOrDemo,
                                  "no such model folder; pass a Hugging Face folder (config.json, "
                                  "model.safetensors, tokenizer.json) or \"demo\""));
        return fs::absolute(pathOrDemo, error).lexically_normal().string();
    }
    std::string folder;
    try {
        folder = demoModelDirectory();
    } catch (const Error& error) {
        throw Error(std::string("the demo model is not built yet: ") + error.what(), error.remedy());
    }
    std::error_code error;
    if (!fs::exists(fs::path(folder) / "config.json", error))
        throw Error(
            "the demo model is not built yet: " + folder +
                " has no config.json. Build it first (the demo model is trained by this project), or use a "
                "Hugging Face model folder",
            Remedy::ChooseModelFolder);
    return fs::absolute(folder, error).lexically_normal().string();
}

LoadedModel::LoadedModel(std::shared_ptr<CausalLM> model, std::optional<Tokenizer> tokenizer,
                         ModelSummary summary)
    : model_(std::move(model)), tokenizer_(std::move(tokenizer)), summary_(std::move(summary))
{
}

std::shared_ptr<LoadedModel> LoadedModel::load(const std::string& pathOrDemo, const ModelLoadOptions& options)
{
    const at::Device device = parseDevice(options.device);
    const at::ScalarType dtype = parseDtype(options.dtype);
    const std::string folder = resolveModelFolder(pathOrDemo);

    const HalfCompute compute = halfComputeFromName(options.halfCompute);
    if (device.is_cpu())
        refuseIfTooLarge(folder, options);

    const auto loadStart = std::chrono::steady_clock::now();
    std::shared_ptr<CausalLM> model = CausalLM::loadFolder(folder, device, dtype, compute);
    std::optional<Tokenizer> tokenizer;
    std::error_code error;
    if (fs::exists(fs::path(folder) / "tokenizer.json", error))
        tokenizer = Tokenizer::fromFile(folder);
    const double loadSeconds = secondsSince(loadStart);

    const auto identityStart = std::chrono::steady_clock::now();
    const std::vector<std::string> weightFiles = SafetensorsCheckpoint::openFolder(folder).files();
    ModelSummary summary;
    summary.identity = modelIdentity(folder, weightFiles);
    const double identitySeconds = secondsSince(identityStart);

    summary.name = pathOrDemo == "demo" ? std::string("demo") : fs::path(folder).filename().string();
    summary.path = folder;
    describe(*model, summary);

    auto loaded = std::make_shared<LoadedModel>(std::move(model), std::move(tokenizer), std::move(summary));
    loaded->chatFiles_ = readChatModelFiles(folder);
    loaded->loadSeconds_ = loadSeconds;
    loaded->identitySeconds_ = identitySeconds;
    return loaded;
}

std::shared_ptr<LoadedModel> LoadedModel::createRandom(const ModelConfig& config, const std::string& name,
                                                       const ModelLoadOptions& options, std::uint64_t seed)
{
    const at::Device device = parseDevice(options.device);
    const auto start = std::chrono::steady_clock::now();
    std::shared_ptr<CausalLM> model = CausalLM::createRandom(config, seed, device, parseDtype(options.dtype), {},
                                                             halfComputeFromName(options.halfCompute));
    ModelSummary summary;
    summary.name = name;
    summary.identity = name + " seed " + std::to_string(seed);
    describe(*model, summary);
    auto loaded = std::make_shared<LoadedModel>(std::move(model), std::nullopt, std::move(summary));
    loaded->loadSeconds_ = secondsSince(start);
    return loaded;
}

void describe(const CausalLM& model, ModelSummary& summary)
{
    const ModelConfig& config = model.config();
    summary.modelType = config.modelType;
    std::int64_t parameters = 0;
    for (const auto& [name, tensor] : model.namedParameters())
        parameters += tensor.numel();
    summary.parameterCount = parameters;
    summary.contextWindow = longestSequence(config);
    summary.vocabSize = config.vocabSize;
    summary.hiddenSize = config.hiddenSize;
    summary.numLayers = config.numLayers;
    summary.numHeads = config.numHeads;
    summary.device = model.device().str();
    summary.dtype = dtypeLabel(model.weightDtype());
    summary.computeDtype = dtypeLabel(model.dtype());
}

const Tokenizer& LoadedModel::tokenizer() const
{
    if (!tokenizer_)
        throw Error(fileError(summary_.path, "has no tokenizer.json, so text cannot be tokenised; copy the "
                                             "model's tokenizer.json into the folder"));
    return *tokenizer_;
}

std::vector<std::int64_t> LoadedModel::stopIds() const
{
    std::vector<std::int64_t> ids = model_->config().eosTokenIds;
    for (std::int64_t id : chatFiles_.eosTokenIds)
        if (std::find(ids.begin(), ids.end(), id) == ids.end())
            ids.push_back(id);
    return ids;
}

} // namespace sp::model
