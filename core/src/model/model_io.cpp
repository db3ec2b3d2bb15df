// Loading a Hugging Face folder (config.json + safetensors, sharded or not) and saving one.
#include "model/causal_lm.h"
#include "model/causal_lm_impl.h"
#include "softprompt/error.h"
#include "softprompt/paths.h"
#include "softprompt/safetensors.h"

#include <filesystem>
#include <set>

namespace fs = std::filesystem;

namespace sp::model {

namespace {

std::string shapeText(const std::vector<std::int64_t>& shape)
{
    std::string text = "[";
    for (std::size_t index = 0; index < shape.size(); ++index)
        text += (index ? ", " : "") + std::to_string(shape[index]);
    return text + "]";
}

at::ScalarType scalarTypeOf(const TensorView& view, const std::string& folder)
{
    switch (view.dtype) {
    case TensorDType::F32:
        return at::kFloat;
    case TensorDType::F16:
        return at::kHalf;
    case TensorDType::BF16:
        return at::kBFloat16;
    case TensorDType::F64:
        return at::kDouble;
    default:
        throw Error(
            fileError(folder, "weight " + view.name + " has dtype " + dtypeName(view.dtype) +
                                  ", not a floating-point type; the checkpoint is quantised or corrupt"));
    }
}

// Tensor names as written by transformers: with or without the base-model prefix.
const TensorView* findTensor(const SafetensorsCheckpoint& checkpoint, const std::string& name,
                             const std::string& prefix)
{
    if (checkpoint.contains(name))
        return &checkpoint.tensor(name);
    if (name.rfind(prefix, 0) == 0) {
        const std::string bare = name.substr(prefix.size());
        if (checkpoint.contains(bare))
            return &checkpoint.tensor(bare);
    } else if (checkpoint.contains(prefix + name)) {
        return &checkpoint.tensor(prefix + name);
    }
    return nullptr;
}

at::Tensor copyToDevice(const TensorView& view, at::ScalarType sourceType, at::Device device,
                        at::ScalarType dtype)
{
    // The view points into the memory-mapped file; the copy owns its data.
    const at::Tensor mapped =
        at::from_blob(const_cast<std::byte*>(view.data), view.shape, at::TensorOptions().dtype(sourceType));
    return mapped.to(device, dtype, /*non_blocking=*/false, /*copy=*/true);
}

} // namespace

std::shared_ptr<CausalLM> CausalLM::loadFolder(const std::string& folder, at::Device device,
                                               at::ScalarType dtype)
{
    configureCpuThreads();
    if (!fs::is_directory(folder))
        throw Error(fileError(folder, "not a model folder; pass a Hugging Face folder with config.json and "
                                      "model.safetensors"));
    auto impl = std::make_unique<Impl>();
    impl->config = ModelConfig::fromFile(folder);
    impl->device = device;
    impl->dtype = dtype;
    impl->validateConfig();
    impl->prepare();

    const SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint::openFolder(folder);
    const std::string prefix = weightPrefix(impl->config);
    std::vector<std::string> missing;
    for (ParameterSlot& slot : impl->parameterSlots()) {
        const TensorView* view = findTensor(checkpoint, slot.name, prefix);
        if (!view) {
            missing.push_back(slot.name);
            continue;
        }
        if (view->shape != slot.shape)
            throw Error(fileError(folder, "weight " + view->name + " has shape " + shapeText(view->shape) +
                                              " but config.json implies " + shapeText(slot.shape) +
                                              "; the weights do not match the config"));
        *slot.tensor = copyToDevice(*view, scalarTypeOf(*view, folder), device, dtype);
    }
    if (!missing.empty()) {
        std::string list;
        for (std::size_t index = 0; index < missing.size() && index < 5; ++index)
            list += (index ? ", " : "") + missing[index];
        if (missing.size() > 5)
            list += " and " + std::to_string(missing.size() - 5) + " more";
        throw Error(fileError(folder, std::to_string(missing.size()) +
                                          " weight(s) missing from the safetensors files: " + list +
                                          "; the checkpoint is incomplete or for another architecture"));
    }
    impl->tieHead();
    impl->fuseProjections();
    return fromImpl(std::move(impl));
}

void CausalLM::save(const std::string& folder) const
{
    std::error_code error;
    fs::create_directories(folder, error);
    if (error)
        throw Error(fileError(folder, "cannot create the folder (" + error.message() + ")"));
    std::vector<at::Tensor> keepAlive; // float32 CPU copies that the written views point into
    std::vector<TensorToWrite> tensors;
    std::set<std::string> written;
    for (ParameterSlot& slot : impl_->parameterSlots()) {
        if (!written.insert(slot.name).second)
            continue;
        keepAlive.push_back(slot.tensor->detach().to(at::kCPU, at::kFloat).contiguous());
        TensorToWrite tensor;
        tensor.name = slot.name;
        tensor.dtype = TensorDType::F32;
        tensor.shape = slot.shape;
        tensor.data = keepAlive.back().data_ptr();
        tensors.push_back(std::move(tensor));
    }
    writeSafetensors((fs::path(folder) / "model.safetensors").string(), tensors, {{"format", "pt"}});
    ModelConfig saved = impl_->config;
    saved.torchDtype = "float32";
    writeTextFile((fs::path(folder) / "config.json").string(), saved.toJsonText());
}

} // namespace sp::model
