// config.json as transformers reads it (configuration_gpt2.py, configuration_llama.py,
// configuration_qwen2.py, configuration_mistral.py and the RoPE standardisation of
// modeling_rope_utils.py): the same defaults when a field is absent, both the transformers-4
// `rope_scaling` and the transformers-5 `rope_parameters` layouts.
#include "softprompt/model_config.h"

#include "softprompt/error.h"
#include "softprompt/model_shape.h"
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

// model_type -> the family that runs it and the transformers class that config.json names.
struct FamilyEntry {
    const char* modelType;
    Architecture architecture;
    const char* causalLmClass;
};

const FamilyEntry familyTable[] = {
    {"gpt2", Architecture::Gpt2, "GPT2LMHeadModel"},
    {"llama", Architecture::Llama, "LlamaForCausalLM"},
    {"qwen2", Architecture::Llama, "Qwen2ForCausalLM"},
    {"mistral", Architecture::Llama, "MistralForCausalLM"},
    {"qwen3", Architecture::Qwen3, "Qwen3ForCausalLM"},
    {"phi3", Architecture::Phi3, "Phi3ForCausalLM"},
    {"gemma2", Architecture::Gemma2, "Gemma2ForCausalLM"},
    {"gemma3_text", Architecture::Gemma3, "Gemma3ForCausalLM"},
};

const FamilyEntry* familyEntry(const std::string& modelType)
{
    for (const FamilyEntry& entry : familyTable)
        if (modelType == entry.modelType)
            return &entry;
    return nullptr;
}

const char* architectureClass(const std::string& modelType)
{
    const FamilyEntry* entry = familyEntry(modelType);
    return entry ? entry->causalLmClass : "LlamaForCausalLM";
}

// config.json's `architectures` names the class transformers builds; a class of another family
// means the config was relabelled or edited, and the weights would be read with the wrong maths.
void checkArchitectures(const ConfigReader& reader, const json& root, const std::string& modelType)
{
    if (!root.contains("architectures") || root.at("architectures").is_null())
        return;
    const json& list = root.at("architectures");
    if (!list.is_array())
        reader.fail("architectures must be a list of class names, found " + list.dump());
    if (list.empty())
        return;
    const FamilyEntry* entry = familyEntry(modelType);
    std::vector<std::string> named;
    for (const json& item : list) {
        if (!item.is_string())
            reader.fail("architectures must hold class names, found " + item.dump());
        named.push_back(item.get<std::string>());
        // The bare model class (e.g. LlamaModel) has no head but the same layers; the head is then tied.
        const std::string expected = entry->causalLmClass;
        const std::string base = expected.substr(0, expected.find("For")) ;
        if (named.back() == expected || named.back() == base + "Model" ||
            (modelType == "gpt2" && named.back() == "GPT2Model"))
            return;
    }
    std::string hint;
    for (const FamilyEntry& other : familyTable)
        for (const std::string& name : named)
            if (name == other.causalLmClass && hint.empty())
                hint = "; " + quote(name) + " is model_type " + quote(other.modelType) +
                       ": set model_type to match the weights, or use the checkpoint's original config.json";
    reader.fail("model_type " + quote(modelType) + " does not match architectures " + json(named).dump() +
                " (a " + modelType + " model is " + entry->causalLmClass + ")" +
                (hint.empty() ? "; the config was edited or belongs to another model" : hint));
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
// is "rope_type", else the legacy "type", else "default". transformers 5 writes Gemma 3's RoPE per
// layer type ({"full_attention": {...}, "sliding_attention": {...}}): the full-attention entry is the
// model's RoPE and the sliding one gives the local base.
void readRope(const ConfigReader& reader, ModelConfig& config)
{
    const json* scaling = reader.object("rope_scaling");
    const json* parameters = reader.object("rope_parameters");
    const json* rope = (scaling && !scaling->empty()) ? scaling : parameters;
    const json empty = json::object();
    if (!rope)
        rope = &empty;
    std::string section = rope == scaling ? "rope_scaling" : "rope_parameters";
    const bool perLayerType = rope->contains("full_attention") || rope->contains("sliding_attention");
    if (perLayerType) {
        if (config.architecture != Architecture::Gemma3)
            reader.fail(section + " is given per layer type: per-layer RoPE is supported for gemma3_text only");
        if (rope->contains("sliding_attention")) {
            const json& local = rope->at("sliding_attention");
            if (!local.is_object() || (local.contains("rope_type") && local.at("rope_type") != "default"))
                reader.fail(section + ".sliding_attention must be a default RoPE with a rope_theta");
            if (local.contains("rope_theta") && local.at("rope_theta").is_number())
                config.ropeLocalTheta = local.at("rope_theta").get<double>();
        }
        if (!rope->contains("full_attention") || !rope->at("full_attention").is_object())
            reader.fail(section + " gives no full_attention entry");
        rope = &rope->at("full_attention");
        section += ".full_attention";
    }

    auto has = [&](const char* key) { return rope->contains(key) && !rope->at(key).is_null(); };
    auto ropeNumber = [&](const char* key, std::optional<double> fallback) -> double {
        if (has(key)) {
            if (!rope->at(key).is_number())
                reader.fail(section + "." + key + " must be a number, found " + rope->at(key).dump());
            return rope->at(key).get<double>();
        }
        if (!fallback)
            reader.fail(section + " of type " + quote(config.ropeScaling.type) + " needs \"" + key + "\"");
        return *fallback;
    };
    auto numberList = [&](const char* key) {
        if (!has(key) || !rope->at(key).is_array())
            reader.fail(section + " of type \"longrope\" needs the list \"" + std::string(key) + "\"");
        std::vector<double> values;
        for (const json& item : rope->at(key)) {
            if (!item.is_number())
                reader.fail(section + "." + key + " must hold numbers, found " + item.dump());
            values.push_back(item.get<double>());
        }
        return values;
    };
    // original_max_position_embeddings: inside the dictionary, else the top-level field (Phi-3).
    auto originalPositions = [&](bool required) -> std::int64_t {
        std::optional<double> fallback;
        if (reader.has("original_max_position_embeddings"))
            fallback = reader.number("original_max_position_embeddings", 0);
        else if (!required)
            fallback = double(config.maxPositionEmbeddings);
        return static_cast<std::int64_t>(ropeNumber("original_max_position_embeddings", fallback));
    };

    config.ropeTheta = has("rope_theta") ? ropeNumber("rope_theta", std::nullopt)
                                         : reader.number("rope_theta", config.ropeTheta);
    std::string type = "default";
    for (const char* key : {"rope_type", "type"}) {
        if (has(key)) {
            if (!rope->at(key).is_string())
                reader.fail(section + "." + key + " must be a string, found " + rope->at(key).dump());
            type = rope->at(key).get<std::string>();
            break;
        }
    }
    config.ropeScaling = RopeScaling{};
    config.ropeScaling.type = type;
    RopeScaling& out = config.ropeScaling;
    if (type == "linear" || type == "dynamic") {
        out.factor = ropeNumber("factor", std::nullopt);
    } else if (type == "llama3") {
        out.factor = ropeNumber("factor", std::nullopt);
        out.lowFreqFactor = ropeNumber("low_freq_factor", std::nullopt);
        out.highFreqFactor = ropeNumber("high_freq_factor", std::nullopt);
        out.originalMaxPositionEmbeddings = originalPositions(true);
        if (out.originalMaxPositionEmbeddings <= 0 || out.highFreqFactor <= out.lowFreqFactor)
            reader.fail(section + ": llama3 RoPE needs original_max_position_embeddings > 0 and "
                                  "high_freq_factor > low_freq_factor");
    } else if (type == "yarn") {
        out.factor = ropeNumber("factor", std::nullopt);
        out.originalMaxPositionEmbeddings = originalPositions(false);
        out.betaFast = ropeNumber("beta_fast", 32.0);
        out.betaSlow = ropeNumber("beta_slow", 1.0);
        out.mscale = ropeNumber("mscale", 0.0);
        out.mscaleAllDim = ropeNumber("mscale_all_dim", 0.0);
        if (has("attention_factor"))
            out.attentionFactor = ropeNumber("attention_factor", std::nullopt);
        if (has("truncate")) {
            if (!rope->at("truncate").is_boolean())
                reader.fail(section + ".truncate must be true or false");
            out.truncate = rope->at("truncate").get<bool>();
        }
        if (out.originalMaxPositionEmbeddings <= 0)
            reader.fail(section + ": yarn RoPE needs original_max_position_embeddings > 0");
    } else if (type == "longrope") {
        out.factor = has("factor") ? ropeNumber("factor", std::nullopt) : 0.0;
        out.shortFactor = numberList("short_factor");
        out.longFactor = numberList("long_factor");
        out.originalMaxPositionEmbeddings = originalPositions(true);
        if (has("attention_factor"))
            out.attentionFactor = ropeNumber("attention_factor", std::nullopt);
        if (out.originalMaxPositionEmbeddings <= 0)
            reader.fail(section + ": longrope needs original_max_position_embeddings > 0");
    } else if (type != "default") {
        reader.fail(section + " type " + quote(type) +
                    " is not supported (supported RoPE types: default, linear, llama3, dynamic, yarn, longrope)");
    }
    if ((type != "longrope" && out.factor <= 0) || out.factor < 0 || config.ropeTheta <= 0)
        reader.fail(section + ": rope_theta and factor must be positive");

    config.partialRotaryFactor = has("partial_rotary_factor") ? ropeNumber("partial_rotary_factor", 1.0)
                                                              : reader.number("partial_rotary_factor", 1.0);
    if (config.partialRotaryFactor != 1.0 && config.architecture != Architecture::Phi3)
        reader.fail("partial_rotary_factor " + std::to_string(config.partialRotaryFactor) +
                    ": rotating only part of each head is not supported for " + config.modelType +
                    " (transformers rotates part of a head only in phi3 models)");
    if (!(config.partialRotaryFactor > 0 && config.partialRotaryFactor <= 1))
        reader.fail("partial_rotary_factor must be in (0, 1], found " + std::to_string(config.partialRotaryFactor));
}

// The number of dimensions of each head that RoPE rotates (transformers: int(head_dim * factor)).
std::int64_t rotaryDimensions(const ModelConfig& config)
{
    return static_cast<std::int64_t>(double(config.headDim) * config.partialRotaryFactor);
}

void checkRopeShapes(const ConfigReader& reader, const ModelConfig& config)
{
    const std::int64_t rotary = rotaryDimensions(config);
    if (rotary % 2 != 0 || rotary <= 0)
        reader.fail("head_dim " + std::to_string(config.headDim) + " × partial_rotary_factor gives " +
                    std::to_string(rotary) + " rotary dimensions, which RoPE cannot pair");
    const RopeScaling& scaling = config.ropeScaling;
    if (scaling.type == "longrope")
        for (const auto* list : {&scaling.shortFactor, &scaling.longFactor})
            if (std::int64_t(list->size()) != rotary / 2)
                reader.fail("longrope short_factor and long_factor need " + std::to_string(rotary / 2) +
                            " values (rotary dimensions / 2), found " + std::to_string(list->size()));
}

void readSlidingWindow(const ConfigReader& reader, const json& root, ModelConfig& config)
{
    std::optional<std::int64_t> window;
    if (config.modelType == "mistral") {
        window = root.contains("sliding_window") ? reader.optionalInteger("sliding_window")
                                                 : std::optional<std::int64_t>(4096);
    } else if (config.modelType == "phi3") {
        window = reader.optionalInteger("sliding_window");
    } else if ((config.modelType == "qwen2" || config.modelType == "qwen3") &&
               reader.boolean("use_sliding_window", false)) {
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
    const bool qwen3 = config.modelType == "qwen3";
    const bool qwen2 = config.modelType == "qwen2" || qwen3; // the same defaults
    const bool mistral = config.modelType == "mistral";
    config.vocabSize = reader.integer("vocab_size", qwen2 ? 151936 : 32000);
    config.hiddenSize = reader.integer("hidden_size", 4096);
    config.intermediateSize = reader.integer("intermediate_size", qwen2 ? 22016 : mistral ? 14336 : 11008);
    config.numLayers = reader.integer("num_hidden_layers", 32);
    config.numHeads = reader.integer("num_attention_heads", 32);
    config.numKeyValueHeads = reader.integer("num_key_value_heads", mistral ? 8 : config.numHeads);
    if (qwen3 && !reader.has("head_dim")) {
        config.headDim = 128; // Qwen3Config's default, not hidden / heads
    } else if (reader.has("head_dim")) {
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
    if (qwen3) {
        // Qwen3: attention_bias applies to q/k/v and o_proj alike, as in Llama.
        config.attentionBias = config.attentionOutputBias = reader.boolean("attention_bias", false);
        config.mlpBias = false;
    } else if (qwen2) {
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

// Phi-3, Phi-3.5 and Phi-4-mini (configuration_phi3.py): fused qkv_proj and gate_up_proj, no
// biases, longrope with the top-level original_max_position_embeddings, partial rotation (Phi-4-mini).
void readPhi3(const ConfigReader& reader, const json& root, ModelConfig& config)
{
    config.vocabSize = reader.integer("vocab_size", 32064);
    config.hiddenSize = reader.integer("hidden_size", 3072);
    config.intermediateSize = reader.integer("intermediate_size", 8192);
    config.numLayers = reader.integer("num_hidden_layers", 32);
    config.numHeads = reader.integer("num_attention_heads", 32);
    config.numKeyValueHeads = reader.integer("num_key_value_heads", config.numHeads);
    if (config.numHeads > 0 && config.hiddenSize % config.numHeads != 0)
        reader.fail("hidden_size " + std::to_string(config.hiddenSize) + " is not a multiple of num_attention_heads " +
                    std::to_string(config.numHeads));
    // Phi3Attention's head_dim is always hidden_size / num_attention_heads.
    config.headDim = config.numHeads > 0 ? config.hiddenSize / config.numHeads : 0;
    config.maxPositionEmbeddings = reader.integer("max_position_embeddings", 4096);
    config.activation = checkedActivation(reader.string("hidden_act", "silu"), "hidden_act", reader);
    config.normEpsilon = reader.number("rms_norm_eps", 1e-5);
    config.tieWordEmbeddings = reader.boolean("tie_word_embeddings", false);
    config.attentionBias = config.attentionOutputBias = config.mlpBias = false;
    config.bosTokenId = root.contains("bos_token_id") ? reader.optionalInteger("bos_token_id")
                                                      : std::optional<std::int64_t>(1);
    config.eosTokenIds = reader.integerList("eos_token_id", {32000});
    readRope(reader, config);
    readSlidingWindow(reader, root, config);
}

// Gemma 2 (configuration_gemma2.py) and the Gemma 3 text model (configuration_gemma3.py,
// Gemma3TextConfig): local sliding-window layers alternate with global ones.
void readGemma(const ConfigReader& reader, const json& root, ModelConfig& config)
{
    const bool gemma3 = config.architecture == Architecture::Gemma3;
    config.vocabSize = reader.integer("vocab_size", gemma3 ? 262208 : 256000);
    config.hiddenSize = reader.integer("hidden_size", 2304);
    config.intermediateSize = reader.integer("intermediate_size", 9216);
    config.numLayers = reader.integer("num_hidden_layers", 26);
    config.numHeads = reader.integer("num_attention_heads", 8);
    config.numKeyValueHeads = reader.integer("num_key_value_heads", 4);
    config.headDim = reader.integer("head_dim", 256);
    config.maxPositionEmbeddings = reader.integer("max_position_embeddings", gemma3 ? 131072 : 8192);
    // The MLP reads hidden_activation; older configs carry only hidden_act.
    const std::string activationKey = reader.has("hidden_activation") ? "hidden_activation" : "hidden_act";
    config.activation = checkedActivation(reader.string(activationKey, "gelu_pytorch_tanh"), activationKey, reader);
    config.normEpsilon = reader.number("rms_norm_eps", 1e-6);
    config.tieWordEmbeddings = reader.boolean("tie_word_embeddings", true);
    config.attentionBias = config.attentionOutputBias = reader.boolean("attention_bias", false);
    config.mlpBias = false;
    config.queryPreAttnScalar = reader.number("query_pre_attn_scalar", 256.0);
    // null turns a soft cap off; an absent field takes the family's default.
    auto softcap = [&](const char* key, double fallback) {
        return root.contains(key) ? reader.number(key, 0.0) : fallback;
    };
    config.attnLogitSoftcapping = softcap("attn_logit_softcapping", gemma3 ? 0.0 : 50.0);
    config.finalLogitSoftcapping = softcap("final_logit_softcapping", gemma3 ? 0.0 : 30.0);
    if (config.queryPreAttnScalar <= 0 || config.attnLogitSoftcapping < 0 || config.finalLogitSoftcapping < 0)
        reader.fail("query_pre_attn_scalar must be positive and the soft-capping values non-negative");
    config.bosTokenId = root.contains("bos_token_id") ? reader.optionalInteger("bos_token_id")
                                                      : std::optional<std::int64_t>(2);
    config.eosTokenIds = reader.integerList("eos_token_id", {1});
    config.ropeTheta = gemma3 ? 1000000.0 : 10000.0;
    if (gemma3)
        config.ropeLocalTheta = reader.number("rope_local_base_freq", 10000.0);
    readRope(reader, config);
    if (gemma3 && config.ropeLocalTheta <= 0)
        reader.fail("rope_local_base_freq must be positive");

    const std::int64_t window = reader.integer("sliding_window", 4096);
    if (window <= 0)
        reader.fail("sliding_window must be positive, found " + std::to_string(window));
    config.slidingWindow = window;
    std::vector<std::string> types;
    if (root.contains("layer_types") && root.at("layer_types").is_array()) {
        for (const json& layer : root.at("layer_types")) {
            const std::string kind = layer.is_string() ? layer.get<std::string>() : layer.dump();
            if (kind != "sliding_attention" && kind != "full_attention")
                reader.fail("layer_types holds " + quote(kind) + "; only full_attention and sliding_attention exist");
            types.push_back(kind);
        }
        if (std::int64_t(types.size()) != config.numLayers)
            reader.fail("layer_types has " + std::to_string(types.size()) + " entries for " +
                        std::to_string(config.numLayers) + " layers");
    } else {
        // Gemma 2 alternates, starting with a local layer; Gemma 3 has sliding_window_pattern - 1
        // local layers before each global one.
        const std::int64_t pattern = gemma3 ? reader.integer("sliding_window_pattern", 6) : 2;
        if (pattern <= 0)
            reader.fail("sliding_window_pattern must be positive");
        for (std::int64_t layer = 0; layer < config.numLayers; ++layer)
            types.push_back((layer + 1) % pattern != 0 ? "sliding_attention" : "full_attention");
    }
    config.layerTypes = types;
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
    if (config.architecture != Architecture::Gpt2)
        checkRopeShapes(reader, config);
    for (std::int64_t id : config.eosTokenIds)
        if (id < 0 || id >= config.vocabSize)
            reader.fail("eos_token_id " + std::to_string(id) + " is outside the vocabulary of " +
                        std::to_string(config.vocabSize));
}

} // namespace

std::vector<std::string> supportedModelTypes()
{
    std::vector<std::string> types;
    for (const FamilyEntry& entry : familyTable)
        types.push_back(entry.modelType);
    return types;
}

ModelConfig shapedModelConfig(const std::string& modelType, const ModelShape& shape)
{
    const FamilyEntry* entry = familyEntry(modelType);
    if (!entry)
        throw Error("no model family runs model_type " + quote(modelType) +
                    "; supported: " + joinStrings(supportedModelTypes(), ", "));
    ModelConfig config;
    config.modelType = modelType;
    config.architecture = entry->architecture;
    config.vocabSize = shape.vocabSize;
    config.hiddenSize = shape.hiddenSize;
    config.intermediateSize = shape.intermediateSize;
    config.numLayers = shape.numLayers;
    config.numHeads = shape.numHeads;
    config.numKeyValueHeads = shape.numKeyValueHeads;
    config.headDim = shape.headDim;
    config.maxPositionEmbeddings = shape.maxPositionEmbeddings;
    switch (entry->architecture) {
    case Architecture::Gpt2: config.activation = "gelu_new"; break;
    case Architecture::Gemma2:
    case Architecture::Gemma3: config.activation = "gelu_pytorch_tanh"; break;
    case Architecture::Llama:
    case Architecture::Qwen3:
    case Architecture::Phi3: config.activation = "silu"; break;
    }
    return config;
}

std::vector<std::string> supportedActivations()
{
    return {"gelu_new", "gelu_pytorch_tanh", "gelu_fast", "gelu", "quick_gelu", "relu", "silu"};
}

bool operator==(const RopeScaling& a, const RopeScaling& b)
{
    return a.type == b.type && a.factor == b.factor && a.lowFreqFactor == b.lowFreqFactor &&
           a.highFreqFactor == b.highFreqFactor &&
           a.originalMaxPositionEmbeddings == b.originalMaxPositionEmbeddings && a.betaFast == b.betaFast &&
           a.betaSlow == b.betaSlow && a.mscale == b.mscale && a.mscaleAllDim == b.mscaleAllDim &&
           a.truncate == b.truncate && a.attentionFactor == b.attentionFactor && a.shortFactor == b.shortFactor &&
           a.longFactor == b.longFactor;
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
           ropeScaling == o.ropeScaling && partialRotaryFactor == o.partialRotaryFactor &&
           slidingWindow == o.slidingWindow && layerTypes == o.layerTypes &&
           queryPreAttnScalar == o.queryPreAttnScalar && attnLogitSoftcapping == o.attnLogitSoftcapping &&
           finalLogitSoftcapping == o.finalLogitSoftcapping && ropeLocalTheta == o.ropeLocalTheta &&
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

    config.architecture = familyEntry(config.modelType)->architecture;
    checkArchitectures(reader, root, config.modelType);
    switch (config.architecture) {
    case Architecture::Gpt2:
        readGpt2(reader, config);
        break;
    case Architecture::Llama:
    case Architecture::Qwen3:
        readLlamaFamily(reader, root, config);
        break;
    case Architecture::Phi3:
        readPhi3(reader, root, config);
        break;
    case Architecture::Gemma2:
    case Architecture::Gemma3:
        readGemma(reader, root, config);
        break;
    }
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
            if (ropeScaling.type != "longrope" || ropeScaling.factor > 0)
                rope["factor"] = ropeScaling.factor;
            if (ropeScaling.type == "llama3") {
                rope["low_freq_factor"] = ropeScaling.lowFreqFactor;
                rope["high_freq_factor"] = ropeScaling.highFreqFactor;
            }
            if (ropeScaling.type == "llama3" || ropeScaling.type == "yarn" || ropeScaling.type == "longrope")
                rope["original_max_position_embeddings"] = ropeScaling.originalMaxPositionEmbeddings;
            if (ropeScaling.type == "yarn") {
                rope["beta_fast"] = ropeScaling.betaFast;
                rope["beta_slow"] = ropeScaling.betaSlow;
                if (ropeScaling.mscale != 0)
                    rope["mscale"] = ropeScaling.mscale;
                if (ropeScaling.mscaleAllDim != 0)
                    rope["mscale_all_dim"] = ropeScaling.mscaleAllDim;
                rope["truncate"] = ropeScaling.truncate;
            }
            if (ropeScaling.type == "longrope") {
                rope["short_factor"] = ropeScaling.shortFactor;
                rope["long_factor"] = ropeScaling.longFactor;
            }
            if (ropeScaling.attentionFactor)
                rope["attention_factor"] = *ropeScaling.attentionFactor;
            out["rope_scaling"] = rope;
            if (ropeScaling.type == "longrope")
                out["original_max_position_embeddings"] = ropeScaling.originalMaxPositionEmbeddings;
        }
        if (partialRotaryFactor != 1.0)
            out["partial_rotary_factor"] = partialRotaryFactor;
        if (modelType == "llama" || modelType == "qwen3") {
            out["attention_bias"] = attentionBias;
            if (modelType == "llama")
                out["mlp_bias"] = mlpBias;
        }
        if (modelType == "qwen2" || modelType == "qwen3") {
            out["use_sliding_window"] = slidingWindow.has_value();
            out["sliding_window"] = slidingWindow ? nlohmann::ordered_json(*slidingWindow) : nullptr;
            out["max_window_layers"] = 0;
        } else if (modelType == "mistral" || modelType == "phi3") {
            out["sliding_window"] = slidingWindow ? nlohmann::ordered_json(*slidingWindow) : nullptr;
        } else if (architecture == Architecture::Gemma2 || architecture == Architecture::Gemma3) {
            out["hidden_activation"] = activation;
            out["attention_bias"] = attentionBias;
            out["query_pre_attn_scalar"] = queryPreAttnScalar;
            out["attn_logit_softcapping"] =
                attnLogitSoftcapping > 0 ? nlohmann::ordered_json(attnLogitSoftcapping) : nullptr;
            out["final_logit_softcapping"] =
                finalLogitSoftcapping > 0 ? nlohmann::ordered_json(finalLogitSoftcapping) : nullptr;
            out["sliding_window"] = slidingWindow ? *slidingWindow : 4096;
            out["layer_types"] = layerTypes;
            if (architecture == Architecture::Gemma3)
                out["rope_local_base_freq"] = ropeLocalTheta;
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
    const bool gemma = architecture == Architecture::Gemma2 || architecture == Architecture::Gemma3;
    const std::int64_t norms = (gemma ? 4 * d : 2 * d) + // pre/post norms around attention (and MLP)
                               (architecture == Architecture::Qwen3 || architecture == Architecture::Gemma3
                                    ? 2 * headDim // q_norm, k_norm
                                    : 0);
    const std::int64_t perLayer = norms + projections + projectionBiases + mlp;
    return embeddings + numLayers * perLayer + d /* final norm */ + head;
}

} // namespace sp
