// PEFT prompt-tuning adapters (huggingface/peft PromptTuningConfig + PromptEmbedding weights), so a
// σ trained here loads with PeftModel.from_pretrained and an adapter trained there comes in here.
#include "store/store_internal.h"

#include "softprompt/paths.h"
#include "softprompt/safetensors.h"

#include <cstring>
#include <filesystem>

namespace fs = std::filesystem;

namespace sp {
namespace {

const char* const kConfigFile = "adapter_config.json";
const char* const kWeightsFile = "adapter_model.safetensors";

nlohmann::json intOrNull(int value)
{
    return value > 0 ? nlohmann::json(value) : nlohmann::json();
}

float halfToFloat(std::uint16_t half)
{
    const std::uint32_t sign = (half & 0x8000u) << 16;
    std::uint32_t exponent = (half >> 10) & 0x1f;
    std::uint32_t mantissa = half & 0x3ffu;
    std::uint32_t bits;
    if (exponent == 0x1f) {
        bits = sign | 0x7f800000u | (mantissa << 13); // inf / nan
    } else if (exponent == 0) {
        if (mantissa == 0) {
            bits = sign;
        } else { // subnormal: normalise
            exponent = 127 - 15 + 1;
            while ((mantissa & 0x400u) == 0) {
                mantissa <<= 1;
                --exponent;
            }
            bits = sign | (exponent << 23) | ((mantissa & 0x3ffu) << 13);
        }
    } else {
        bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
    }
    float value;
    std::memcpy(&value, &bits, sizeof value);
    return value;
}

float bfloat16ToFloat(std::uint16_t raw)
{
    const std::uint32_t bits = static_cast<std::uint32_t>(raw) << 16;
    float value;
    std::memcpy(&value, &bits, sizeof value);
    return value;
}

} // namespace

void writePeftAdapter(const std::string& directory, const PeftAdapter& adapter)
{
    const SoftPrompt& sigma = adapter.sigma;
    if (sigma.k <= 0 || sigma.dim <= 0 ||
        sigma.values.size() != static_cast<std::size_t>(sigma.k) * sigma.dim)
        throw Error(
            fileError(directory, "cannot export an empty or malformed σ (k=" + std::to_string(sigma.k) +
                                     ", d=" + std::to_string(sigma.dim) + ")"));
    std::error_code error;
    fs::create_directories(directory, error);
    if (error || !fs::is_directory(directory))
        throw Error(fileError(directory, "cannot create the adapter folder (" + error.message() + ")"));

    // Start from what was imported (keeps fields this program does not know), then state the facts.
    nlohmann::json config = adapter.config.is_object() ? adapter.config : nlohmann::json::object();
    config["peft_type"] = "PROMPT_TUNING";
    config["task_type"] = "CAUSAL_LM";
    config["num_virtual_tokens"] = sigma.k;
    config["token_dim"] = sigma.dim;
    config["num_transformer_submodules"] = 1;
    config["num_attention_heads"] = intOrNull(adapter.numAttentionHeads);
    config["num_layers"] = intOrNull(adapter.numLayers);
    config["base_model_name_or_path"] = adapter.baseModelNameOrPath;
    config["inference_mode"] = true;
    // peft's PromptTuningConfig refuses TEXT without both an init text and a tokenizer, so TEXT is
    // written only when both are known.
    const bool text = adapter.promptTuningInit == "TEXT" && !adapter.promptTuningInitText.empty() &&
                      !adapter.tokenizerNameOrPath.empty();
    config["prompt_tuning_init"] = text ? "TEXT" : "RANDOM";
    config["prompt_tuning_init_text"] =
        text ? nlohmann::json(adapter.promptTuningInitText) : nlohmann::json();
    config["tokenizer_name_or_path"] = text ? nlohmann::json(adapter.tokenizerNameOrPath) : nlohmann::json();
    if (!text)
        config.erase("tokenizer_kwargs"); // peft allows it with TEXT only

    const fs::path folder(directory);
    store::writeFileAtomically((folder / kWeightsFile).string(), softPromptToSafetensors(sigma));
    // peft writes its config as json.dumps(indent=2, sort_keys=True); nlohmann sorts keys too.
    store::writeFileAtomically((folder / kConfigFile).string(),
                               config.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

PeftAdapter readPeftAdapter(const std::string& directory)
{
    const fs::path folder(directory);
    std::error_code error;
    if (!fs::is_directory(folder, error))
        throw Error(fileError(directory, "is not a folder; pass the folder that holds adapter_config.json"));
    const std::string configPath = (folder / kConfigFile).string();
    const std::string weightsPath = (folder / kWeightsFile).string();
    if (!fs::exists(configPath, error))
        throw Error(fileError(directory, "has no adapter_config.json; is it a PEFT adapter folder?"));

    nlohmann::json config = nlohmann::json::parse(readTextFile(configPath), nullptr, false);
    if (!config.is_object())
        throw Error(fileError(configPath, "is not a JSON object"));
    const std::string peftType = config.value("peft_type", std::string());
    if (peftType != "PROMPT_TUNING")
        throw Error(fileError(
            configPath, "peft_type is \"" + peftType +
                            "\"; only PROMPT_TUNING adapters hold a soft prompt the workbench can use"));
    const std::string taskType = config.contains("task_type") && config["task_type"].is_string()
                                     ? config["task_type"].get<std::string>()
                                     : std::string("CAUSAL_LM");
    if (taskType != "CAUSAL_LM")
        throw Error(fileError(
            configPath, "task_type is \"" + taskType +
                            "\"; only CAUSAL_LM prompt tuning applies to the models the workbench runs"));
    const auto optionalInt = [&](const char* key) {
        const auto found = config.find(key);
        if (found == config.end() || found->is_null())
            return 0;
        if (!found->is_number_integer())
            throw Error(fileError(configPath, std::string(key) + " is not an integer"));
        return found->get<int>();
    };
    const int submodules = optionalInt("num_transformer_submodules");
    if (submodules > 1)
        throw Error(fileError(configPath, "num_transformer_submodules is " + std::to_string(submodules) +
                                              "; a causal LM adapter has 1"));
    const int virtualTokens = optionalInt("num_virtual_tokens");
    const int tokenDim = optionalInt("token_dim");

    if (!fs::exists(weightsPath, error)) {
        if (fs::exists(folder / "adapter_model.bin", error))
            throw Error(fileError(
                directory, "holds adapter_model.bin (a pickle), which the workbench does not load; "
                           "save it again with safe_serialization=True to get adapter_model.safetensors"));
        throw Error(fileError(directory, "has no adapter_model.safetensors"));
    }
    const auto weights = SafetensorsFile::open(weightsPath);
    if (!weights->contains("prompt_embeddings"))
        throw Error(fileError(weightsPath,
                              "has no tensor \"prompt_embeddings\" (a PEFT prompt-tuning adapter has it)"));
    const TensorView& tensor = weights->tensor("prompt_embeddings");
    if (tensor.shape.size() != 2)
        throw Error(fileError(weightsPath, "prompt_embeddings has " + std::to_string(tensor.shape.size()) +
                                               " dimensions; expected [num_virtual_tokens, token_dim]"));
    const std::int64_t rows = tensor.shape[0], columns = tensor.shape[1]; // [k, d]
    if (rows <= 0 || columns <= 0)
        throw Error(fileError(weightsPath, "prompt_embeddings is empty"));
    if ((virtualTokens > 0 && rows != virtualTokens) || (tokenDim > 0 && columns != tokenDim))
        throw Error(fileError(weightsPath, "prompt_embeddings is [" + std::to_string(rows) + ", " +
                                               std::to_string(columns) + "] but adapter_config.json says [" +
                                               std::to_string(virtualTokens) + ", " +
                                               std::to_string(tokenDim) + "]"));

    PeftAdapter adapter;
    adapter.sigma.k = static_cast<int>(rows);
    adapter.sigma.dim = static_cast<int>(columns);
    adapter.sigma.values.resize(static_cast<std::size_t>(rows * columns)); // [k, d]
    const std::size_t count = adapter.sigma.values.size();
    switch (tensor.dtype) {
    case TensorDType::F32:
        std::memcpy(adapter.sigma.values.data(), tensor.data, count * sizeof(float)); // bit for bit
        break;
    case TensorDType::F16:
    case TensorDType::BF16:
        for (std::size_t i = 0; i < count; ++i) {
            std::uint16_t raw;
            std::memcpy(&raw, tensor.data + 2 * i, 2);
            adapter.sigma.values[i] =
                tensor.dtype == TensorDType::F16 ? halfToFloat(raw) : bfloat16ToFloat(raw);
        }
        break;
    default:
        throw Error(fileError(weightsPath, "prompt_embeddings is " + dtypeName(tensor.dtype) +
                                               "; expected F32 (or F16/BF16)"));
    }
    adapter.baseModelNameOrPath = config.value("base_model_name_or_path", nlohmann::json()).is_string()
                                      ? config["base_model_name_or_path"].get<std::string>()
                                      : std::string();
    adapter.numAttentionHeads = optionalInt("num_attention_heads");
    adapter.numLayers = optionalInt("num_layers");
    const auto text = [&](const char* key) {
        const auto found = config.find(key);
        return found != config.end() && found->is_string() ? found->get<std::string>() : std::string();
    };
    adapter.promptTuningInit = text("prompt_tuning_init").empty() ? "RANDOM" : text("prompt_tuning_init");
    adapter.promptTuningInitText = text("prompt_tuning_init_text");
    adapter.tokenizerNameOrPath = text("tokenizer_name_or_path");
    adapter.config = config;
    return adapter;
}

// ---- runs <-> adapters ---------------------------------------------------------------------------

void RunStore::exportPeft(std::int64_t runId, const std::string& directory, std::optional<int> step) const
{
    const RunRecord record = run(runId);
    PeftAdapter adapter;
    adapter.sigma = loadSigma(runId, step);
    const nlohmann::json& summary = record.model.summary;
    const int hidden = summary.value("hiddenSize", 0);
    if (hidden > 0 && hidden != adapter.sigma.dim)
        throw Error("run " + std::to_string(runId) + ": σ has dimension " +
                    std::to_string(adapter.sigma.dim) + " but the model's hidden size is " +
                    std::to_string(hidden) + "; the run is inconsistent");
    adapter.numAttentionHeads = summary.value("numHeads", 0);
    adapter.numLayers = summary.value("numLayers", 0);
    adapter.baseModelNameOrPath = summary.value("path", record.model.path);
    if (record.config.contains("peft") && record.config["peft"].is_object()) {
        adapter.config = record.config["peft"]; // an imported adapter goes back out as it came in
        adapter.promptTuningInit =
            adapter.config.value("prompt_tuning_init", nlohmann::json("RANDOM")).is_string()
                ? adapter.config["prompt_tuning_init"].get<std::string>()
                : "RANDOM";
        const auto text = [&](const char* key) {
            const auto found = adapter.config.find(key);
            return found != adapter.config.end() && found->is_string() ? found->get<std::string>()
                                                                       : std::string();
        };
        adapter.promptTuningInitText = text("prompt_tuning_init_text");
        adapter.tokenizerNameOrPath = text("tokenizer_name_or_path");
        if (adapter.baseModelNameOrPath.empty())
            adapter.baseModelNameOrPath = text("base_model_name_or_path");
    } else if (record.config.value("init", std::string()) == "text") {
        // σ started from the embeddings of a text: the init text, or the context itself when empty.
        adapter.promptTuningInit = "TEXT";
        // TrainConfig::toJson writes "init_text"; "initText" is accepted from hand-written configs.
        std::string initText =
            record.config.value("init_text", record.config.value("initText", std::string()));
        if (initText.empty() && record.contextId)
            initText = context(*record.contextId).text;
        adapter.promptTuningInitText = initText;
        adapter.tokenizerNameOrPath = adapter.baseModelNameOrPath;
    }
    writePeftAdapter(directory, adapter);
}

std::int64_t RunStore::importPeft(const std::string& directory)
{
    const PeftAdapter adapter = readPeftAdapter(directory);
    NewRun newRun;
    newRun.name = "imported " + fs::path(directory).lexically_normal().filename().string();
    if (newRun.name == "imported ")
        newRun.name = "imported " + fs::absolute(directory).parent_path().filename().string();
    newRun.config = {{"k", adapter.sigma.k},
                     {"init", adapter.promptTuningInit == "TEXT" ? "text" : "random"},
                     {"importedFrom", fs::absolute(directory).lexically_normal().string()},
                     {"peft", adapter.config}};
    newRun.model.path = adapter.baseModelNameOrPath;
    newRun.model.summary = {{"path", adapter.baseModelNameOrPath}, {"hiddenSize", adapter.sigma.dim}};
    if (adapter.numAttentionHeads > 0)
        newRun.model.summary["numHeads"] = adapter.numAttentionHeads;
    if (adapter.numLayers > 0)
        newRun.model.summary["numLayers"] = adapter.numLayers;
    newRun.tags = {"imported"};
    std::unique_ptr<RunWriter> writer = startRun(newRun);
    writer->checkpoint(0, adapter.sigma);
    writer->finish(RunStatus::Finished);
    return writer->runId();
}

// ---- model identity --------------------------------------------------------------------------------

nlohmann::json modelSummaryToJson(const ModelSummary& summary)
{
    return {{"name", summary.name},
            {"path", summary.path},
            {"modelType", summary.modelType},
            {"identity", summary.identity},
            {"parameterCount", summary.parameterCount},
            {"contextWindow", summary.contextWindow},
            {"vocabSize", summary.vocabSize},
            {"hiddenSize", summary.hiddenSize},
            {"numLayers", summary.numLayers},
            {"numHeads", summary.numHeads},
            {"device", summary.device},
            {"dtype", summary.dtype}};
}

ModelIdentity modelIdentityOf(const ModelSummary& summary)
{
    ModelIdentity identity;
    identity.path = summary.path;
    identity.hash = summary.identity;
    identity.summary = modelSummaryToJson(summary);
    return identity;
}

} // namespace sp
