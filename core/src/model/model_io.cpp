// Loading a Hugging Face folder (config.json + safetensors, sharded or not) and saving one.
#include "model/causal_lm.h"
#include "model/causal_lm_impl.h"
#include "model/family.h"
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

// A tensor over the mapped bytes themselves: no copy, and the checkpoint's files stay mapped until
// the last such tensor is gone.
at::Tensor aliasMapped(const TensorView& view, at::ScalarType sourceType,
                       const std::shared_ptr<const SafetensorsCheckpoint>& checkpoint)
{
    return at::from_blob(
        const_cast<std::byte*>(view.data), view.shape, [checkpoint](void*) {},
        at::TensorOptions().dtype(sourceType));
}

// Whether `slot` is one of the matrices the family's fuse() copies into a fused one (q/k/v, gate/up).
bool fusedAway(const DecoderLayer& layer, const ParameterSlot& slot)
{
    for (const at::Tensor* part : {&layer.qWeight, &layer.kWeight, &layer.vWeight, &layer.qBias, &layer.kBias,
                                   &layer.vBias, &layer.gateWeight, &layer.upWeight, &layer.gateBias,
                                   &layer.upBias})
        if (slot.tensor == part)
            return true;
    return false;
}

std::string listNames(const std::vector<std::string>& names)
{
    std::string list;
    for (std::size_t index = 0; index < names.size() && index < 5; ++index)
        list += (index ? ", " : "") + names[index];
    if (names.size() > 5)
        list += " and " + std::to_string(names.size() - 5) + " more";
    return list;
}

bool contains(const std::string& name, const std::string& part)
{
    return name.find(part) != std::string::npos;
}

// The layer index in "model.layers.N...." (or "transformer.h.N...."), -1 when there is none.
std::int64_t layerIndexOf(const std::string& name)
{
    for (const std::string marker : {".layers.", ".h."}) {
        const std::size_t at = name.find(marker);
        if (at != std::string::npos) {
            try {
                return std::stoll(name.substr(at + marker.size()));
            } catch (const std::exception&) {
                return -1;
            }
        }
    }
    return -1;
}

// What unused tensors suggest about the checkpoint's real family.
std::string unusedTensorHint(const std::vector<std::string>& unused, const ModelConfig& config)
{
    const Architecture family = config.architecture;
    const bool gemma = family == Architecture::Gemma2 || family == Architecture::Gemma3;
    for (const std::string& name : unused)
        if (layerIndexOf(name) >= config.numLayers)
            return "; the files hold more layers than num_hidden_layers " + std::to_string(config.numLayers) +
                   " (the config has fewer layers than stored)";
    for (const std::string& name : unused) {
        if ((contains(name, "q_norm") || contains(name, "k_norm")) && family != Architecture::Qwen3 &&
            family != Architecture::Gemma3)
            return "; per-head q_norm/k_norm weights belong to Qwen3 (model_type \"qwen3\") or Gemma 3 "
                   "(\"gemma3_text\"), not " + config.modelType + ": fix the config's model_type";
        if ((contains(name, "qkv_proj") || contains(name, "gate_up_proj")) && family != Architecture::Phi3)
            return "; fused qkv_proj/gate_up_proj weights belong to Phi-3 (model_type \"phi3\"), not " +
                   config.modelType + ": fix the config's model_type";
        if ((contains(name, "pre_feedforward_layernorm") || contains(name, "post_feedforward_layernorm")) && !gemma)
            return "; pre/post feed-forward norms belong to Gemma 2/3 (model_type \"gemma2\" or \"gemma3_text\"), "
                   "not " + config.modelType + ": fix the config's model_type";
        if (contains(name, "_proj.bias"))
            return "; the projection biases are not in this " + config.modelType +
                   " config (attention_bias / mlp_bias, or model_type \"qwen2\")";
    }
    return "; the config does not describe these weights (another model_type, or fewer layers than stored)";
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
                                               at::ScalarType dtype, HalfCompute compute)
{
    configureCpuThreads();
    if (!fs::is_directory(folder))
        throw Error(fileError(folder, "not a model folder; pass a Hugging Face folder with config.json and "
                                      "model.safetensors"));
    auto impl = std::make_unique<Impl>();
    impl->config = ModelConfig::fromFile(folder);
    impl->device = device;
    impl->choosePrecision(dtype, compute);
    impl->validateConfig();
    impl->prepare();

    const auto checkpoint =
        std::make_shared<const SafetensorsCheckpoint>(SafetensorsCheckpoint::openFolder(folder));
    const std::string prefix = weightPrefix(impl->config);
    std::vector<std::string> missing;
    std::set<std::string> used;
    std::vector<ParameterSlot> slots = impl->parameterSlots();
    std::vector<const TensorView*> views(slots.size(), nullptr);
    for (std::size_t index = 0; index < slots.size(); ++index) {
        ParameterSlot& slot = slots[index];
        const TensorView* view = findTensor(*checkpoint, slot.name, prefix);
        if (!view) {
            missing.push_back(slot.name);
            continue;
        }
        used.insert(view->name);
        if (view->shape != slot.shape)
            throw Error(fileError(folder, "weight " + view->name + " has shape " + shapeText(view->shape) +
                                              " but config.json implies " + shapeText(slot.shape) +
                                              "; the weights do not match the config"));
        views[index] = view;
        const at::ScalarType sourceType = scalarTypeOf(*view, folder);
        const at::ScalarType stored = impl->storageDtype(slot.shape);
        if (device.is_cpu() && sourceType == stored && view->mapped) {
            *slot.tensor = aliasMapped(*view, sourceType, checkpoint); // used as stored: no copy
            impl->weightsMapped = true;
        } else {
            *slot.tensor = copyToDevice(*view, sourceType, device, stored);
            releaseMappedPages(*view); // read once for the copy; keep only the copy resident
        }
    }
    // Strict: a stored tensor the model would not use means the config does not describe the
    // checkpoint (a Qwen3 relabelled llama would silently lose its q/k norms).
    std::vector<std::string> unused;
    const ModelFamily& family = familyFor(impl->config.architecture);
    for (const std::string& name : checkpoint->names()) {
        if (used.count(name) || family.isBufferName(name))
            continue;
        // A tied head saved anyway: transformers ties it and ignores the copy.
        if (family.headTied(impl->config) && (name == "lm_head.weight" || name == prefix + "lm_head.weight"))
            continue;
        unused.push_back(name);
    }
    if (!missing.empty())
        throw Error(fileError(folder, std::to_string(missing.size()) +
                                          " weight(s) missing from the safetensors files: " + listNames(missing) +
                                          (unused.empty() ? "; the checkpoint is incomplete or for another architecture"
                                                          : "; the files hold " + listNames(unused) + " instead" +
                                                                unusedTensorHint(unused, impl->config))));
    if (!unused.empty())
        throw Error(fileError(folder, std::to_string(unused.size()) + " tensor(s) in the safetensors files that a " +
                                          impl->config.modelType + " model does not use: " + listNames(unused) +
                                          unusedTensorHint(unused, impl->config)));
    impl->tieHead();
    // Fusing copies q/k/v and gate/up into one matrix each. Layer by layer, the mapped pages each copy
    // read are released at once, so the file's pages and the fused copies are never both resident.
    impl->onLayerFused = [&](DecoderLayer& layer) {
        for (std::size_t index = 0; index < slots.size(); ++index)
            if (views[index] && fusedAway(layer, slots[index]))
                releaseMappedPages(*views[index]);
    };
    impl->fuseProjections();
    impl->onLayerFused = nullptr;
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
