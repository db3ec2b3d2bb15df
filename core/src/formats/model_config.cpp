// config.json as transformers reads it (configuration_gpt2.py, configuration_llama.py,
// configuration_qwen2.py, configuration_mistral.py and the RoPE standardisation of
// modeling_rope_utils.py): the same defaults when a field is absent, both the transformers-4
// `rope_scaling` and the transformers-5 `rope_parameters` layouts.
#include "softprompt/model_config.h"

#include "softprompt/error.h"
#include "softprompt/paths.h"
#include "softprompt/text.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <limits>

namespace sp {
namespace {

using nlohmann::json;

// A config string as it appears in an error: JSON-quoted, so control characters stay escaped.
std::string quote(const std::string& text)
{
    return json(text).dump();
}

// Field readers that name the file and the field in every error.
class ConfigReader {
public:
    ConfigReader(const json& root, const std::string& source) : root_(root), source_(source) {}

    bool has(const std::string& key) const { return root_.contains(key) && !root_.at(key).is_null(); }

    std::int64_t integer(const std::string& key, std::int64_t fallback) const
    {
        return has(key) ? integerValue(root_.at(key), key) : fallback;
    }
    std::optional<std::int64_t> optionalInteger(const std::string& key) const
    {
        return has(key) ? std::optional<std::int64_t>(integerValue(root_.at(key), key)) : std::nullopt;
    }
    double number(const std::string& key, double fallback) const
    {
        if (!has(key))
            return fallback;
        const json& value = root_.at(key);
        if (!value.is_number())
            fail(key + " must be a number, found " + value.dump());
        return value.get<double>();
    }
    bool boolean(const std::string& key, bool fallback) const
    {
        if (!has(key))
            return fallback;
        const json& value = root_.at(key);
        if (!value.is_boolean())
            fail(key + " must be true or false, found " + value.dump());
        return value.get<bool>();
    }
    std::string string(const std::string& key, const std::string& fallback) const
    {
        if (!has(key))
            return fallback;
        const json& value = root_.at(key);
        if (!value.is_string())
            fail(key + " must be a string, found " + value.dump());
        return value.get<std::string>();
    }
    // An integer, a list of integers or null (eos_token_id).
    std::vector<std::int64_t> integerList(const std::string& key, std::vector<std::int64_t> fallback) const
    {
        if (!root_.contains(key))
            return fallback;
        const json& value = root_.at(key);
        if (value.is_null())
            return {};
        if (!value.is_array())
            return {integerValue(value, key)};
        std::vector<std::int64_t> list;
        for (const json& item : value)
            list.push_back(integerValue(item, key));
        return list;
    }
    const json* object(const std::string& key) const
    {
        if (!has(key))
            return nullptr;
        if (!root_.at(key).is_object())
            fail(key + " must be an object or null, found " + root_.at(key).dump());
        return &root_.at(key);
    }

    std::int64_t integerValue(const json& value, const std::string& key) const
    {
        if (value.is_number_integer())
            return value.get<std::int64_t>();
        // Python writes integral floats such as 8192.0 in some converted configs.
        if (value.is_number_float()) {
            const double number = value.get<double>();
            if (number == static_cast<double>(static_cast<std::int64_t>(number)))
                return static_cast<std::int64_t>(number);
        }
        fail(key + " must be an integer, found " + value.dump());
    }
    [[noreturn]] void fail(const std::string& detail) const { throw Error(fileError(source_, detail)); }

private:
    const json& root_;
    const std::string& source_;
};

const char* architectureClass(const std::string& modelType)
{
    if (modelType == "gpt2")
        return "GPT2LMHeadModel";
    if (modelType == "qwen2")
        return "Qwen2ForCausalLM";
    if (modelType == "mistral")
        return "MistralForCausalLM";
    return "LlamaForCausalLM";
}

std::string checkedActivation(const std::string& activation, const std::string& key,
                              const ConfigReader& reader)
{
    if (activation == "swish")
        return "silu";
    const std::vector<std::string> supported = supportedActivations();
    if (std::find(supported.begin(), supported.end(), activation) == supported.end())
        reader.fail(key + " " + quote(activation) +
                    " is not supported; supported activations: " + joinStrings(supported, ", "));
    return activation;
}

void readGpt2(const ConfigReader& reader, ModelConfig& config)
{
    // GPT2Config's attribute_map lets hidden_size & co. stand in for the n_* names.
    auto aliased = [&](const char* name, const char* alias, std::int64_t fallback) {
        return reader.has(name) ? reader.integer(name, fallback) : reader.integer(alias, fallback);
    };
    config.architecture = Architecture::Gpt2;
    config.vocabSize = reader.integer("vocab_size", 50257);
    config.maxPositionEmbeddings = aliased("n_positions", "max_position_embeddings", 1024);
    config.hiddenSize = aliased("n_embd", "hidden_size", 768);
    config.numLayers = aliased("n_layer", "num_hidden_layers", 12);
    config.numHeads = aliased("n_head", "num_attention_heads", 12);
    config.numKeyValueHeads = config.numHeads;
    if (config.numHeads > 0 && config.hiddenSize % config.numHeads != 0)
        reader.fail("n_embd " + std::to_string(config.hiddenSize) + " is not a multiple of n_head " +
                    std::to_string(config.numHeads));
    config.headDim = config.numHeads > 0 ? config.hiddenSize / config.numHeads : 0;
    config.intermediateSize = reader.integer("n_inner", 4 * config.hiddenSize);
    config.activation =
        checkedActivation(reader.string("activation_function", "gelu_new"), "activation_function", reader);
    config.normEpsilon = reader.number("layer_norm_epsilon", 1e-5);
    config.tieWordEmbeddings = reader.boolean("tie_word_embeddings", true);
    // Conv1D layers and LayerNorms of GPT-2 all carry biases.
    config.attentionBias = true;
    config.attentionOutputBias = true;
    config.mlpBias = true;
    config.bosTokenId = reader.has("bos_token_id") ? reader.optionalInteger("bos_token_id")
                                                   : std::optional<std::int64_t>(50256);
    config.eosTokenIds = reader.integerList("eos_token_id", {50256});

    config.scaleAttnByInverseLayerIdx = reader.boolean("scale_attn_by_inverse_layer_idx", false);
    if (config.scaleAttnByInverseLayerIdx)
        reader.fail("scale_attn_by_inverse_layer_idx is true: scaling attention by 1/(layer+1) is not "
                    "supported");
    if (!reader.boolean("scale_attn_weights", true))
        reader.fail("scale_attn_weights is false: attention without the 1/sqrt(head_dim) scale is not "
                    "supported");
    if (reader.boolean("add_cross_attention", false))
        reader.fail("add_cross_attention is true: encoder-decoder GPT-2 models are not supported");
    // reorder_and_upcast_attn only changes rounding in half precision: attention scores are computed
    // in float32 here either way, so it is read and accepted.
}

// The RoPE settings after transformers 5's standardisation: `rope_scaling` (4.x) wins over
// `rope_parameters` (5.x); rope_theta inside the dictionary wins over the top-level field; the type
// is "rope_type", else the legacy "type", else "default".
void readRope(const ConfigReader& reader, ModelConfig& config)
{
    const json* scaling = reader.object("rope_scaling");
    const json* parameters = reader.object("rope_parameters");
    const json* rope = (scaling && !scaling->empty()) ? scaling : parameters;
    const json empty = json::object();
    if (!rope)
        rope = &empty;
    const std::string section = rope == scaling ? "rope_scaling" : "rope_parameters";
    for (const char* layerType : {"full_attention", "sliding_attention"})
        if (rope->contains(layerType))
            reader.fail(section + " is given per layer type: per-layer RoPE is not supported");

    auto ropeNumber = [&](const char* key, std::optional<double> fallback) -> double {
        if (rope->contains(key) && !rope->at(key).is_null()) {
            if (!rope->at(key).is_number())
                reader.fail(section + "." + key + " must be a number, found " + rope->at(key).dump());
            return rope->at(key).get<double>();
        }
        if (!fallback)
            reader.fail(section + " of type " + quote(config.ropeScaling.type) + " needs \"" + key + "\"");
        return *fallback;
    };

    config.ropeTheta = rope->contains("rope_theta") ? ropeNumber("rope_theta", std::nullopt)
                                                    : reader.number("rope_theta", 10000.0);
    std::string type = "default";
    for (const char* key : {"rope_type", "type"}) {
        if (rope->contains(key) && !rope->at(key).is_null()) {
            if (!rope->at(key).is_string())
                reader.fail(section + "." + key + " must be a string, found " + rope->at(key).dump());
            type = rope->at(key).get<std::string>();
            break;
        }
    }
    config.ropeScaling = RopeScaling{};
    config.ropeScaling.type = type;
    if (type == "linear") {
        config.ropeScaling.factor = ropeNumber("factor", std::nullopt);
    } else if (type == "llama3") {
        config.ropeScaling.factor = ropeNumber("factor", std::nullopt);
        config.ropeScaling.lowFreqFactor = ropeNumber("low_freq_factor", std::nullopt);
        config.ropeScaling.highFreqFactor = ropeNumber("high_freq_factor", std::nullopt);
        const double original =
            ropeNumber("original_max_position_embeddings",
                       reader.has("original_max_position_embeddings")
                           ? std::optional<double>(reader.number("original_max_position_embeddings", 0))
                           : std::nullopt);
        config.ropeScaling.originalMaxPositionEmbeddings = static_cast<std::int64_t>(original);
        if (config.ropeScaling.originalMaxPositionEmbeddings <= 0 ||
            config.ropeScaling.highFreqFactor <= config.ropeScaling.lowFreqFactor)
            reader.fail(section + ": llama3 RoPE needs original_max_position_embeddings > 0 and "
                                  "high_freq_factor > low_freq_factor");
    } else if (type != "default") {
        reader.fail(section + " type " + quote(type) +
                    " is not supported (supported RoPE types: default, linear, llama3)");
    }
    if (config.ropeScaling.factor <= 0 || config.ropeTheta <= 0)
        reader.fail(section + ": rope_theta and factor must be positive");

    const double partial = rope->contains("partial_rotary_factor")
                               ? ropeNumber("partial_rotary_factor", 1.0)
                               : reader.number("partial_rotary_factor", 1.0);
    if (partial != 1.0)
        reader.fail("partial_rotary_factor " + std::to_string(partial) +
                    ": rotating only part of each head is not supported");
}

void readSlidingWindow(const ConfigReader& reader, const json& root, ModelConfig& config)
{
    std::optional<std::int64_t> window;
    if (config.modelType == "mistral") {
        window = root.contains("sliding_window") ? reader.optionalInteger("sliding_window")
                                                 : std::optional<std::int64_t>(4096);
    } else if (config.modelType == "qwen2" && reader.boolean("use_sliding_window", false)) {
        window = root.contains("sliding_window") ? reader.optionalInteger("sliding_window")
                                                 : std::optional<std::int64_t>(4096);
        // Qwen2 slides only from layer max_window_layers on.
        const std::int64_t firstSlidingLayer = reader.integer("max_window_layers", 28);
        if (window && firstSlidingLayer >= config.numLayers)
            window.reset();
        else if (window && firstSlidingLayer > 0)
            reader.fail("use_sliding_window with max_window_layers " + std::to_string(firstSlidingLayer) +
                        " < num_hidden_layers " + std::to_string(config.numLayers) +
                        ": a sliding window on only some layers is not supported");
    }
    if (root.contains("layer_types") && root.at("layer_types").is_array()) {
        bool anySliding = false, anyFull = false;
        for (const json& layer : root.at("layer_types")) {
            const std::string kind = layer.is_string() ? layer.get<std::string>() : layer.dump();
            if (kind == "sliding_attention")
                anySliding = true;
            else if (kind == "full_attention")
                anyFull = true;
            else
                reader.fail("layer_types holds " + quote(kind) +
                            "; only full_attention and "
                            "sliding_attention layers are supported");
        }
        if (anySliding && anyFull)
            reader.fail("layer_types mixes sliding and full attention layers: not supported");
        if (!anySliding)
            window.reset();
        else if (!window)
            reader.fail("layer_types asks for sliding attention but sliding_window is not set");
    }
    if (window && *window <= 0)
        reader.fail("sliding_window must be positive, found " + std::to_string(*window));
    config.slidingWindow = window;
}

void readLlamaFamily(const ConfigReader& reader, const json& root, ModelConfig& config)
{
    const bool qwen2 = config.modelType == "qwen2";
    const bool mistral = config.modelType == "mistral";
    config.architecture = Architecture::Llama;
    config.vocabSize = reader.integer("vocab_size", qwen2 ? 151936 : 32000);
    config.hiddenSize = reader.integer("hidden_size", 4096);
    config.intermediateSize = reader.integer("intermediate_size", qwen2 ? 22016 : mistral ? 14336 : 11008);
    config.numLayers = reader.integer("num_hidden_layers", 32);
    config.numHeads = reader.integer("num_attention_heads", 32);
    config.numKeyValueHeads = reader.integer("num_key_value_heads", mistral ? 8 : config.numHeads);
    if (reader.has("head_dim")) {
        config.headDim = reader.integer("head_dim", 0);
    } else {
        if (config.numHeads > 0 && config.hiddenSize % config.numHeads != 0)
            reader.fail("hidden_size " + std::to_string(config.hiddenSize) +
                        " is not a multiple of num_attention_heads " + std::to_string(config.numHeads) +
                        " and no head_dim is given");
        config.headDim = config.numHeads > 0 ? config.hiddenSize / config.numHeads : 0;
    }
    config.maxPositionEmbeddings = reader.integer("max_position_embeddings", qwen2     ? 32768
                                                                             : mistral ? 4096 * 32
                                                                                       : 2048);
    config.activation = checkedActivation(reader.string("hidden_act", "silu"), "hidden_act", reader);
    config.normEpsilon = reader.number("rms_norm_eps", 1e-6);
    config.tieWordEmbeddings = reader.boolean("tie_word_embeddings", false);
    if (qwen2) {
        // Qwen2's q/k/v projections always carry a bias and o_proj never does.
        config.attentionBias = true;
        config.attentionOutputBias = false;
        config.mlpBias = false;
    } else if (mistral) {
        config.attentionBias = config.attentionOutputBias = config.mlpBias = false;
    } else {
        config.attentionBias = config.attentionOutputBias = reader.boolean("attention_bias", false);
        config.mlpBias = reader.boolean("mlp_bias", false);
    }
    const bool hasSpecialDefaults = !qwen2;
    config.bosTokenId = root.contains("bos_token_id") ? reader.optionalInteger("bos_token_id")
                        : hasSpecialDefaults          ? std::optional<std::int64_t>(1)
                                                      : std::nullopt;
    config.eosTokenIds = reader.integerList("eos_token_id", hasSpecialDefaults ? std::vector<std::int64_t>{2}
                                                                               : std::vector<std::int64_t>{});
    readRope(reader, config);
    readSlidingWindow(reader, root, config);
}

void validate(const ConfigReader& reader, const ModelConfig& config)
{
    const std::pair<const char*, std::int64_t> positive[] = {
        {"vocab_size", config.vocabSize},
        {"hidden size", config.hiddenSize},
        {"number of layers", config.numLayers},
        {"number of attention heads", config.numHeads},
        {"num_key_value_heads", config.numKeyValueHeads},
        {"head_dim", config.headDim},
        {"intermediate size", config.intermediateSize},
        {"max positions", config.maxPositionEmbeddings},
    };
    for (const auto& [what, value] : positive)
        if (value <= 0)
            reader.fail(std::string(what) + " must be positive, found " + std::to_string(value));
    if (config.numHeads % config.numKeyValueHeads != 0)
        reader.fail("num_attention_heads " + std::to_string(config.numHeads) +
                    " is not a multiple of num_key_value_heads " + std::to_string(config.numKeyValueHeads));
    if (!(config.normEpsilon > 0))
        reader.fail("the norm epsilon must be positive");
    for (std::int64_t id : config.eosTokenIds)
        if (id < 0 || id >= config.vocabSize)
            reader.fail("eos_token_id " + std::to_string(id) + " is outside the vocabulary of " +
                        std::to_string(config.vocabSize));
}

} // namespace

std::vector<std::string> supportedModelTypes()
{
    return {"gpt2", "llama", "qwen2", "mistral"};
}

std::vector<std::string> supportedActivations()
{
    return {"gelu_new", "gelu_pytorch_tanh", "gelu_fast", "gelu", "quick_gelu", "relu", "silu"};
}

bool operator==(const RopeScaling& a, const RopeScaling& b)
{
    return a.type == b.type && a.factor == b.factor && a.lowFreqFactor == b.lowFreqFactor &&
           a.highFreqFactor == b.highFreqFactor &&
           a.originalMaxPositionEmbeddings == b.originalMaxPositionEmbeddings;
}

bool ModelConfig::operator==(const ModelConfig& o) const
{
    return modelType == o.modelType && architecture == o.architecture && vocabSize == o.vocabSize &&
           hiddenSize == o.hiddenSize && numLayers == o.numLayers && numHeads == o.numHeads &&
           numKeyValueHeads == o.numKeyValueHeads && headDim == o.headDim &&
           intermediateSize == o.intermediateSize && maxPositionEmbeddings == o.maxPositionEmbeddings &&
           activation == o.activation && normEpsilon == o.normEpsilon &&
           tieWordEmbeddings == o.tieWordEmbeddings && attentionBias == o.attentionBias &&
           attentionOutputBias == o.attentionOutputBias && mlpBias == o.mlpBias && ropeTheta == o.ropeTheta &&
           ropeScaling == o.ropeScaling && slidingWindow == o.slidingWindow &&
           scaleAttnByInverseLayerIdx == o.scaleAttnByInverseLayerIdx && bosTokenId == o.bosTokenId &&
           eosTokenIds == o.eosTokenIds && padTokenId == o.padTokenId && torchDtype == o.torchDtype;
}

ModelConfig ModelConfig::fromFile(const std::string& path)
{
    std::error_code error;
    const std::string file = std::filesystem::is_directory(path, error)
                                 ? (std::filesystem::path(path) / "config.json").string()
                                 : path;
    if (!std::filesystem::exists(file, error))
        throw Error(fileError(file, "not found: a Hugging Face model folder needs a config.json"));
    return fromJsonText(readTextFile(file), file);
}

ModelConfig ModelConfig::fromJsonText(const std::string& jsonText, const std::string& sourceName)
{
    json root;
    try {
        root = json::parse(jsonText);
    } catch (const json::exception& e) {
        throw Error(fileError(sourceName, std::string("is not valid JSON: ") + e.what()));
    }
    if (!root.is_object())
        throw Error(fileError(sourceName, "must hold a JSON object"));
    const ConfigReader reader(root, sourceName);
    ModelConfig config;
    const std::vector<std::string> supported = supportedModelTypes();
    if (!reader.has("model_type"))
        reader.fail("has no model_type; supported model types: " + joinStrings(supported, ", "));
    config.modelType = reader.string("model_type", "");
    if (std::find(supported.begin(), supported.end(), config.modelType) == supported.end())
        reader.fail("model_type " + quote(config.modelType) +
                    " is not supported; supported model types: " + joinStrings(supported, ", "));

    if (config.modelType == "gpt2")
        readGpt2(reader, config);
    else
        readLlamaFamily(reader, root, config);
    config.padTokenId = reader.optionalInteger("pad_token_id");
    // transformers 5 writes "dtype", 4.x "torch_dtype".
    config.torchDtype = reader.has("dtype") ? reader.string("dtype", "") : reader.string("torch_dtype", "");
    validate(reader, config);
    return config;
}

std::string ModelConfig::toJsonText() const
{
    nlohmann::ordered_json out;
    out["architectures"] = {architectureClass(modelType)};
    out["model_type"] = modelType;
    out["vocab_size"] = vocabSize;
    if (architecture == Architecture::Gpt2) {
        out["n_positions"] = maxPositionEmbeddings;
        out["n_ctx"] = maxPositionEmbeddings;
        out["n_embd"] = hiddenSize;
        out["n_layer"] = numLayers;
        out["n_head"] = numHeads;
        out["n_inner"] = intermediateSize;
        out["activation_function"] = activation;
        out["layer_norm_epsilon"] = normEpsilon;
        out["scale_attn_weights"] = true;
        out["scale_attn_by_inverse_layer_idx"] = scaleAttnByInverseLayerIdx;
    } else {
        out["hidden_size"] = hiddenSize;
        out["intermediate_size"] = intermediateSize;
        out["num_hidden_layers"] = numLayers;
        out["num_attention_heads"] = numHeads;
        out["num_key_value_heads"] = numKeyValueHeads;
        out["head_dim"] = headDim;
        out["hidden_act"] = activation;
        out["max_position_embeddings"] = maxPositionEmbeddings;
        out["rms_norm_eps"] = normEpsilon;
        out["rope_theta"] = ropeTheta;
        if (ropeScaling.type == "default") {
            out["rope_scaling"] = nullptr;
        } else {
            nlohmann::ordered_json rope;
            rope["rope_type"] = ropeScaling.type;
            rope["factor"] = ropeScaling.factor;
            if (ropeScaling.type == "llama3") {
                rope["low_freq_factor"] = ropeScaling.lowFreqFactor;
                rope["high_freq_factor"] = ropeScaling.highFreqFactor;
                rope["original_max_position_embeddings"] = ropeScaling.originalMaxPositionEmbeddings;
            }
            out["rope_scaling"] = rope;
        }
        if (modelType == "llama") {
            out["attention_bias"] = attentionBias;
            out["mlp_bias"] = mlpBias;
        } else if (modelType == "qwen2") {
            out["use_sliding_window"] = slidingWindow.has_value();
            out["sliding_window"] = slidingWindow ? nlohmann::ordered_json(*slidingWindow) : nullptr;
            out["max_window_layers"] = 0;
        } else if (modelType == "mistral") {
            out["sliding_window"] = slidingWindow ? nlohmann::ordered_json(*slidingWindow) : nullptr;
        }
    }
    out["tie_word_embeddings"] = tieWordEmbeddings;
    out["bos_token_id"] = bosTokenId ? nlohmann::ordered_json(*bosTokenId) : nullptr;
    if (eosTokenIds.size() == 1)
        out["eos_token_id"] = eosTokenIds.front();
    else if (eosTokenIds.empty())
        out["eos_token_id"] = nullptr;
    else
        out["eos_token_id"] = eosTokenIds;
    out["pad_token_id"] = padTokenId ? nlohmann::ordered_json(*padTokenId) : nullptr;
    if (!torchDtype.empty())
        out["torch_dtype"] = torchDtype;
    return out.dump(2) + "\n";
}

std::int64_t ModelConfig::parameterCount() const
{
    const std::int64_t d = hiddenSize;
    const std::int64_t embeddings = vocabSize * d;
    const std::int64_t head = tieWordEmbeddings ? 0 : vocabSize * d;
    if (architecture == Architecture::Gpt2) {
        const std::int64_t layerNorm = 2 * d; // weight and bias
        const std::int64_t attention = d * 3 * d + 3 * d + d * d + d;
        const std::int64_t mlp = d * intermediateSize + intermediateSize + intermediateSize * d + d;
        const std::int64_t perLayer = 2 * layerNorm + attention + mlp;
        return embeddings + maxPositionEmbeddings * d + numLayers * perLayer + layerNorm + head;
    }
    const std::int64_t queryWidth = numHeads * headDim;
    const std::int64_t keyValueWidth = numKeyValueHeads * headDim;
    const std::int64_t projections = d * queryWidth + 2 * d * keyValueWidth + queryWidth * d;
    const std::int64_t projectionBiases =
        (attentionBias ? queryWidth + 2 * keyValueWidth : 0) + (attentionOutputBias ? d : 0);
    const std::int64_t mlp = 3 * d * intermediateSize + (mlpBias ? 2 * intermediateSize + d : 0);
    const std::int64_t perLayer = 2 * d /* two RMSNorm weights */ + projections + projectionBiases + mlp;
    return embeddings + numLayers * perLayer + d /* final norm */ + head;
}

} // namespace sp
