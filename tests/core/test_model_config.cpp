// config.json as transformers reads it, over the config.json files the supported checkpoints ship
// (as published on the Hugging Face hub), the transformers-5 rope_parameters layout, and every
// rejection. Parameter counts are the ones the model cards / safetensors indexes state.
#include "softprompt/error.h"
#include "softprompt/model_config.h"
#include "test_safetensors_util.h"

#include <QDir>
#include <QTemporaryDir>
#include <QtTest>

namespace {

// The configs as published (fields that do not change the numerics included, as they appear).
const char kGpt2[] = R"({
  "activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1,
  "bos_token_id": 50256, "embd_pdrop": 0.1, "eos_token_id": 50256, "initializer_range": 0.02,
  "layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_ctx": 1024, "n_embd": 768, "n_head": 12,
  "n_layer": 12, "n_positions": 1024, "resid_pdrop": 0.1, "summary_activation": null,
  "summary_first_dropout": 0.1, "summary_proj_to_labels": true, "summary_type": "cls_index",
  "summary_use_proj": true, "task_specific_params": {"text-generation": {"do_sample": true, "max_length": 50}},
  "vocab_size": 50257})";

const char kDistilGpt2[] = R"({
  "_num_labels": 1, "activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"],
  "attn_pdrop": 0.1, "bos_token_id": 50256, "embd_pdrop": 0.1, "eos_token_id": 50256,
  "id2label": {"0": "LABEL_0"}, "initializer_range": 0.02, "label2id": {"LABEL_0": 0},
  "layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_ctx": 1024, "n_embd": 768, "n_head": 12,
  "n_layer": 6, "n_positions": 1024, "resid_pdrop": 0.1, "summary_activation": null,
  "summary_first_dropout": 0.1, "summary_proj_to_labels": true, "summary_type": "cls_index",
  "summary_use_proj": true, "task_specific_params": {"text-generation": {"do_sample": true, "max_length": 50}},
  "vocab_size": 50257})";

const char kLlama2_7b[] = R"({
  "architectures": ["LlamaForCausalLM"], "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
  "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 11008,
  "max_position_embeddings": 4096, "model_type": "llama", "num_attention_heads": 32,
  "num_hidden_layers": 32, "num_key_value_heads": 32, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
  "rope_scaling": null, "tie_word_embeddings": false, "torch_dtype": "float16",
  "transformers_version": "4.31.0.dev0", "use_cache": true, "vocab_size": 32000})";

const char kLlama32_1b[] = R"({
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 128000, "eos_token_id": 128001, "head_dim": 64, "hidden_act": "silu",
  "hidden_size": 2048, "initializer_range": 0.02, "intermediate_size": 8192,
  "max_position_embeddings": 131072, "mlp_bias": false, "model_type": "llama",
  "num_attention_heads": 32, "num_hidden_layers": 16, "num_key_value_heads": 8, "pretraining_tp": 1,
  "rms_norm_eps": 1e-05,
  "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "rope_theta": 500000.0, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
  "transformers_version": "4.45.0.dev0", "use_cache": true, "vocab_size": 128256})";

// The same model as transformers 5 saves it: rope_parameters holds rope_theta, "dtype" replaces
// "torch_dtype".
const char kLlama32_1bTransformers5[] = R"({
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 128000, "dtype": "bfloat16", "eos_token_id": 128001, "head_dim": 64,
  "hidden_act": "silu", "hidden_size": 2048, "initializer_range": 0.02, "intermediate_size": 8192,
  "max_position_embeddings": 131072, "mlp_bias": false, "model_type": "llama",
  "num_attention_heads": 32, "num_hidden_layers": 16, "num_key_value_heads": 8, "pad_token_id": null,
  "pretraining_tp": 1, "rms_norm_eps": 1e-05,
  "rope_parameters": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                      "original_max_position_embeddings": 8192, "rope_theta": 500000.0,
                      "rope_type": "llama3"},
  "tie_word_embeddings": true, "transformers_version": "5.0.0", "use_cache": true, "vocab_size": 128256})";

const char kLlama31_8bInstruct[] = R"({
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "hidden_act": "silu",
  "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336,
  "max_position_embeddings": 131072, "mlp_bias": false, "model_type": "llama",
  "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8, "pretraining_tp": 1,
  "rms_norm_eps": 1e-05,
  "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "rope_theta": 500000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
  "transformers_version": "4.42.3", "use_cache": true, "vocab_size": 128256})";

const char kTinyLlama[] = R"({
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "bos_token_id": 1, "eos_token_id": 2,
  "hidden_act": "silu", "hidden_size": 2048, "initializer_range": 0.02, "intermediate_size": 5632,
  "max_position_embeddings": 2048, "model_type": "llama", "num_attention_heads": 32,
  "num_hidden_layers": 22, "num_key_value_heads": 4, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
  "rope_scaling": null, "rope_theta": 10000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
  "transformers_version": "4.35.0", "use_cache": true, "vocab_size": 32000})";

const char kSmolLM2_135m[] = R"({
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 0, "eos_token_id": 0, "hidden_act": "silu", "hidden_size": 576,
  "initializer_range": 0.041666666666666664, "intermediate_size": 1536, "is_llama_config": true,
  "max_position_embeddings": 8192, "model_type": "llama", "num_attention_heads": 9,
  "num_hidden_layers": 30, "num_key_value_heads": 3, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
  "rope_interleaved": false, "rope_scaling": null, "rope_theta": 100000, "tie_word_embeddings": true,
  "torch_dtype": "bfloat16", "transformers_version": "4.40.1", "use_cache": true, "vocab_size": 49152})";

const char kQwen25_05b[] = R"({
  "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
  "eos_token_id": 151643, "hidden_act": "silu", "hidden_size": 896, "initializer_range": 0.02,
  "intermediate_size": 4864, "max_position_embeddings": 32768, "max_window_layers": 24,
  "model_type": "qwen2", "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2,
  "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 32768, "tie_word_embeddings": true,
  "torch_dtype": "bfloat16", "transformers_version": "4.40.1", "use_cache": true, "use_mrope": false,
  "use_sliding_window": false, "vocab_size": 151936})";

const char kMistral7bV01[] = R"({
  "architectures": ["MistralForCausalLM"], "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
  "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336,
  "max_position_embeddings": 32768, "model_type": "mistral", "num_attention_heads": 32,
  "num_hidden_layers": 32, "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_theta": 10000.0,
  "sliding_window": 4096, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
  "transformers_version": "4.34.0.dev0", "use_cache": true, "vocab_size": 32000})";

const char kMistral7bV03[] = R"({
  "architectures": ["MistralForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 1, "eos_token_id": 2,
  "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336,
  "max_position_embeddings": 32768, "model_type": "mistral", "num_attention_heads": 32,
  "num_hidden_layers": 32, "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_theta": 1000000.0,
  "sliding_window": null, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
  "transformers_version": "4.42.0.dev0", "use_cache": true, "vocab_size": 32768})";

// LongChat-style linear position interpolation with the legacy "type" spelling.
const char kLinearRope[] = R"({
  "architectures": ["LlamaForCausalLM"], "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
  "hidden_size": 4096, "intermediate_size": 11008, "max_position_embeddings": 16384,
  "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 32, "rms_norm_eps": 1e-06,
  "rope_scaling": {"factor": 8.0, "type": "linear"}, "tie_word_embeddings": false, "vocab_size": 32000})";

const char kQwen3_06b[] = R"({
  "architectures": ["Qwen3ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 151643, "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu", "hidden_size": 1024,
  "initializer_range": 0.02, "intermediate_size": 3072, "max_position_embeddings": 40960,
  "max_window_layers": 28, "model_type": "qwen3", "num_attention_heads": 16, "num_hidden_layers": 28,
  "num_key_value_heads": 8, "rms_norm_eps": 1e-06, "rope_scaling": null, "rope_theta": 1000000,
  "sliding_window": null, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
  "transformers_version": "4.51.0", "use_cache": true, "use_sliding_window": false, "vocab_size": 151936})";

const char kPhi3Mini4k[] = R"({
  "architectures": ["Phi3ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0, "bos_token_id": 1,
  "embd_pdrop": 0.0, "eos_token_id": 32000, "hidden_act": "silu", "hidden_size": 3072,
  "initializer_range": 0.02, "intermediate_size": 8192, "max_position_embeddings": 4096,
  "model_type": "phi3", "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 32,
  "original_max_position_embeddings": 4096, "pad_token_id": 32000, "resid_pdrop": 0.0, "rms_norm_eps": 1e-05,
  "rope_scaling": null, "rope_theta": 10000.0, "sliding_window": 2047, "tie_word_embeddings": false,
  "torch_dtype": "bfloat16", "transformers_version": "4.40.2", "use_cache": true, "vocab_size": 32064})";

const char kGemma2_2b[] = R"({
  "architectures": ["Gemma2ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "attn_logit_softcapping": 50.0, "bos_token_id": 2, "cache_implementation": "hybrid", "eos_token_id": 1,
  "final_logit_softcapping": 30.0, "head_dim": 256, "hidden_act": "gelu_pytorch_tanh",
  "hidden_activation": "gelu_pytorch_tanh", "hidden_size": 2304, "initializer_range": 0.02,
  "intermediate_size": 9216, "max_position_embeddings": 8192, "model_type": "gemma2",
  "num_attention_heads": 8, "num_hidden_layers": 26, "num_key_value_heads": 4, "pad_token_id": 0,
  "query_pre_attn_scalar": 256, "rms_norm_eps": 1e-06, "rope_theta": 10000.0, "sliding_window": 4096,
  "torch_dtype": "float32", "transformers_version": "4.42.4", "use_cache": true, "vocab_size": 256000})";

const char kGemma3_1b[] = R"({
  "architectures": ["Gemma3ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "attn_logit_softcapping": null, "bos_token_id": 2, "cache_implementation": "hybrid", "eos_token_id": [1, 106],
  "final_logit_softcapping": null, "head_dim": 256, "hidden_activation": "gelu_pytorch_tanh",
  "hidden_size": 1152, "initializer_range": 0.02, "intermediate_size": 6912, "max_position_embeddings": 32768,
  "model_type": "gemma3_text", "num_attention_heads": 4, "num_hidden_layers": 26, "num_key_value_heads": 1,
  "pad_token_id": 0, "query_pre_attn_scalar": 256, "rms_norm_eps": 1e-06, "rope_local_base_freq": 10000,
  "rope_scaling": null, "rope_theta": 1000000, "sliding_window": 512, "sliding_window_pattern": 6,
  "torch_dtype": "bfloat16", "transformers_version": "4.50.0.dev0", "use_cache": true, "vocab_size": 262144})";

// Phi-4-mini's layout (partial rotation, longrope over 4096 original positions), with its 48
// short/long factors replaced by simple values: the reader only counts and stores them.
QByteArray phi4MiniLike()
{
    QStringList shortFactors, longFactors;
    for (int i = 0; i < 48; ++i) {
        shortFactors << "1.0";
        longFactors << QString::number(1.0 + i);
    }
    return QStringLiteral(R"({
  "architectures": ["Phi3ForCausalLM"], "bos_token_id": 199999, "eos_token_id": 199999, "hidden_act": "silu",
  "hidden_size": 3072, "intermediate_size": 8192, "max_position_embeddings": 131072, "model_type": "phi3",
  "num_attention_heads": 24, "num_hidden_layers": 32, "num_key_value_heads": 8,
  "original_max_position_embeddings": 4096, "pad_token_id": 199999, "partial_rotary_factor": 0.75,
  "rms_norm_eps": 1e-05, "rope_scaling": {"long_factor": [%1], "short_factor": [%2], "type": "longrope"},
  "rope_theta": 10000.0, "sliding_window": 262144, "tie_word_embeddings": true, "vocab_size": 200064})")
        .arg(longFactors.join(", "), shortFactors.join(", "))
        .toUtf8();
}

sp::Architecture architectureOf(const QString& modelType)
{
    if (modelType == "gpt2")
        return sp::Architecture::Gpt2;
    if (modelType == "qwen3")
        return sp::Architecture::Qwen3;
    if (modelType == "phi3")
        return sp::Architecture::Phi3;
    if (modelType == "gemma2")
        return sp::Architecture::Gemma2;
    if (modelType == "gemma3_text")
        return sp::Architecture::Gemma3;
    return sp::Architecture::Llama;
}

const std::optional<std::int64_t> kNone;

} // namespace

class TestModelConfig : public QObject {
    Q_OBJECT

private slots:
    void readsPublishedConfigs_data()
    {
        QTest::addColumn<QByteArray>("json");
        QTest::addColumn<QString>("modelType");
        // hidden, layers, heads, kv heads, head dim, intermediate, max positions, vocab
        QTest::addColumn<QList<qint64>>("sizes");
        QTest::addColumn<QString>("activation");
        QTest::addColumn<double>("epsilon");
        QTest::addColumn<QString>("biases"); // "qkv,o,mlp" as 0/1
        QTest::addColumn<bool>("tied");
        QTest::addColumn<double>("ropeTheta");
        QTest::addColumn<QString>("ropeType");
        QTest::addColumn<QList<double>>("rope");       // factor, low, high, original max positions
        QTest::addColumn<qint64>("slidingWindow");     // 0 = none
        QTest::addColumn<QList<qint64>>("specialIds"); // bos (-1 none), then eos ids
        QTest::addColumn<qint64>("parameterCount");

        const QList<double> noScaling{1.0, 1.0, 4.0, 0.0};
        QTest::newRow("gpt2") << QByteArray(kGpt2) << "gpt2"
                              << QList<qint64>{768, 12, 12, 12, 64, 3072, 1024, 50257} << "gelu_new" << 1e-5
                              << "1,1,1" << true << 10000.0 << "default" << noScaling << qint64(0)
                              << QList<qint64>{50256, 50256} << qint64(124439808);
        QTest::newRow("distilgpt2") << QByteArray(kDistilGpt2) << "gpt2"
                                    << QList<qint64>{768, 6, 12, 12, 64, 3072, 1024, 50257} << "gelu_new"
                                    << 1e-5 << "1,1,1" << true << 10000.0 << "default" << noScaling
                                    << qint64(0) << QList<qint64>{50256, 50256} << qint64(81912576);
        QTest::newRow("Llama-2-7b") << QByteArray(kLlama2_7b) << "llama"
                                    << QList<qint64>{4096, 32, 32, 32, 128, 11008, 4096, 32000} << "silu"
                                    << 1e-5 << "0,0,0" << false << 10000.0 << "default" << noScaling
                                    << qint64(0) << QList<qint64>{1, 2} << qint64(6738415616);
        QTest::newRow("Llama-3.2-1B")
            << QByteArray(kLlama32_1b) << "llama" << QList<qint64>{2048, 16, 32, 8, 64, 8192, 131072, 128256}
            << "silu" << 1e-5 << "0,0,0" << true << 500000.0 << "llama3"
            << QList<double>{32.0, 1.0, 4.0, 8192} << qint64(0) << QList<qint64>{128000, 128001}
            << qint64(1235814400);
        QTest::newRow("Llama-3.2-1B transformers-5 rope_parameters")
            << QByteArray(kLlama32_1bTransformers5) << "llama"
            << QList<qint64>{2048, 16, 32, 8, 64, 8192, 131072, 128256} << "silu" << 1e-5 << "0,0,0" << true
            << 500000.0 << "llama3" << QList<double>{32.0, 1.0, 4.0, 8192} << qint64(0)
            << QList<qint64>{128000, 128001} << qint64(1235814400);
        QTest::newRow("Llama-3.1-8B-Instruct (eos list)")
            << QByteArray(kLlama31_8bInstruct) << "llama"
            << QList<qint64>{4096, 32, 32, 8, 128, 14336, 131072, 128256} << "silu" << 1e-5 << "0,0,0"
            << false << 500000.0 << "llama3" << QList<double>{8.0, 1.0, 4.0, 8192} << qint64(0)
            << QList<qint64>{128000, 128001, 128008, 128009} << qint64(8030261248);
        QTest::newRow("TinyLlama-1.1B")
            << QByteArray(kTinyLlama) << "llama" << QList<qint64>{2048, 22, 32, 4, 64, 5632, 2048, 32000}
            << "silu" << 1e-5 << "0,0,0" << false << 10000.0 << "default" << noScaling << qint64(0)
            << QList<qint64>{1, 2} << qint64(1100048384);
        QTest::newRow("SmolLM2-135M")
            << QByteArray(kSmolLM2_135m) << "llama" << QList<qint64>{576, 30, 9, 3, 64, 1536, 8192, 49152}
            << "silu" << 1e-5 << "0,0,0" << true << 100000.0 << "default" << noScaling << qint64(0)
            << QList<qint64>{0, 0} << qint64(134515008);
        QTest::newRow("Qwen2.5-0.5B")
            << QByteArray(kQwen25_05b) << "qwen2" << QList<qint64>{896, 24, 14, 2, 64, 4864, 32768, 151936}
            << "silu" << 1e-6 << "1,0,0" << true << 1000000.0 << "default" << noScaling << qint64(0)
            << QList<qint64>{151643, 151643} << qint64(494032768);
        QTest::newRow("Mistral-7B-v0.1")
            << QByteArray(kMistral7bV01) << "mistral"
            << QList<qint64>{4096, 32, 32, 8, 128, 14336, 32768, 32000} << "silu" << 1e-5 << "0,0,0" << false
            << 10000.0 << "default" << noScaling << qint64(4096) << QList<qint64>{1, 2} << qint64(7241732096);
        QTest::newRow("Mistral-7B-v0.3")
            << QByteArray(kMistral7bV03) << "mistral"
            << QList<qint64>{4096, 32, 32, 8, 128, 14336, 32768, 32768} << "silu" << 1e-5 << "0,0,0" << false
            << 1000000.0 << "default" << noScaling << qint64(0) << QList<qint64>{1, 2} << qint64(7248023552);
        QTest::newRow("linear RoPE, legacy \"type\"")
            << QByteArray(kLinearRope) << "llama" << QList<qint64>{4096, 32, 32, 32, 128, 11008, 16384, 32000}
            << "silu" << 1e-6 << "0,0,0" << false << 10000.0 << "linear" << QList<double>{8.0, 1.0, 4.0, 0}
            << qint64(0) << QList<qint64>{1, 2} << qint64(6738415616);
        QTest::newRow("Qwen3-0.6B")
            << QByteArray(kQwen3_06b) << "qwen3" << QList<qint64>{1024, 28, 16, 8, 128, 3072, 40960, 151936}
            << "silu" << 1e-6 << "0,0,0" << true << 1000000.0 << "default" << noScaling << qint64(0)
            << QList<qint64>{151643, 151645} << qint64(596049920);
        QTest::newRow("Phi-3-mini-4k-instruct")
            << QByteArray(kPhi3Mini4k) << "phi3" << QList<qint64>{3072, 32, 32, 32, 96, 8192, 4096, 32064}
            << "silu" << 1e-5 << "0,0,0" << false << 10000.0 << "default" << noScaling << qint64(2047)
            << QList<qint64>{1, 32000} << qint64(3821079552);
        QTest::newRow("Phi-4-mini layout")
            << phi4MiniLike() << "phi3" << QList<qint64>{3072, 32, 24, 8, 128, 8192, 131072, 200064} << "silu"
            << 1e-5 << "0,0,0" << true << 10000.0 << "longrope" << QList<double>{0.0, 1.0, 4.0, 4096}
            << qint64(262144) << QList<qint64>{199999, 199999} << qint64(3836021760);
        QTest::newRow("gemma-2-2b")
            << QByteArray(kGemma2_2b) << "gemma2" << QList<qint64>{2304, 26, 8, 4, 256, 9216, 8192, 256000}
            << "gelu_pytorch_tanh" << 1e-6 << "0,0,0" << true << 10000.0 << "default" << noScaling
            << qint64(4096) << QList<qint64>{2, 1} << qint64(2614341888);
        QTest::newRow("gemma-3-1b-it")
            << QByteArray(kGemma3_1b) << "gemma3_text" << QList<qint64>{1152, 26, 4, 1, 256, 6912, 32768, 262144}
            << "gelu_pytorch_tanh" << 1e-6 << "0,0,0" << true << 1000000.0 << "default" << noScaling
            << qint64(512) << QList<qint64>{2, 1, 106} << qint64(999885952);
        // An absent field takes the transformers default of its model type.
        QTest::newRow("llama defaults")
            << QByteArray(R"({"model_type": "llama"})") << "llama"
            << QList<qint64>{4096, 32, 32, 32, 128, 11008, 2048, 32000} << "silu" << 1e-6 << "0,0,0" << false
            << 10000.0 << "default" << noScaling << qint64(0) << QList<qint64>{1, 2} << qint64(6738415616);
        QTest::newRow("mistral defaults")
            << QByteArray(R"({"model_type": "mistral"})") << "mistral"
            << QList<qint64>{4096, 32, 32, 8, 128, 14336, 131072, 32000} << "silu" << 1e-6 << "0,0,0" << false
            << 10000.0 << "default" << noScaling << qint64(4096) << QList<qint64>{1, 2} << qint64(7241732096);
        QTest::newRow("gpt2 defaults") << QByteArray(R"({"model_type": "gpt2", "n_inner": null})") << "gpt2"
                                       << QList<qint64>{768, 12, 12, 12, 64, 3072, 1024, 50257} << "gelu_new"
                                       << 1e-5 << "1,1,1" << true << 10000.0 << "default" << noScaling
                                       << qint64(0) << QList<qint64>{50256, 50256} << qint64(124439808);
    }

    void readsPublishedConfigs()
    {
        QFETCH(QByteArray, json);
        QFETCH(QString, modelType);
        QFETCH(QList<qint64>, sizes);
        QFETCH(QString, activation);
        QFETCH(double, epsilon);
        QFETCH(QString, biases);
        QFETCH(bool, tied);
        QFETCH(double, ropeTheta);
        QFETCH(QString, ropeType);
        QFETCH(QList<double>, rope);
        QFETCH(qint64, slidingWindow);
        QFETCH(QList<qint64>, specialIds);
        QFETCH(qint64, parameterCount);

        const sp::ModelConfig config = sp::ModelConfig::fromJsonText(json.toStdString(), "config.json");
        QCOMPARE(QString::fromStdString(config.modelType), modelType);
        QCOMPARE(config.architecture, architectureOf(modelType));
        const QList<qint64> actualSizes{config.hiddenSize,
                                        config.numLayers,
                                        config.numHeads,
                                        config.numKeyValueHeads,
                                        config.headDim,
                                        config.intermediateSize,
                                        config.maxPositionEmbeddings,
                                        config.vocabSize};
        QCOMPARE(actualSizes, sizes);
        QCOMPARE(QString::fromStdString(config.activation), activation);
        QCOMPARE(config.normEpsilon, epsilon);
        QCOMPARE(QStringLiteral("%1,%2,%3")
                     .arg(int(config.attentionBias))
                     .arg(int(config.attentionOutputBias))
                     .arg(int(config.mlpBias)),
                 biases);
        QCOMPARE(config.tieWordEmbeddings, tied);
        QCOMPARE(config.ropeTheta, ropeTheta);
        QCOMPARE(QString::fromStdString(config.ropeScaling.type), ropeType);
        const QList<double> actualRope{config.ropeScaling.factor, config.ropeScaling.lowFreqFactor,
                                       config.ropeScaling.highFreqFactor,
                                       double(config.ropeScaling.originalMaxPositionEmbeddings)};
        QCOMPARE(actualRope, rope);
        QCOMPARE(config.slidingWindow.value_or(0), slidingWindow);
        QList<qint64> actualIds{config.bosTokenId.value_or(-1)};
        for (std::int64_t id : config.eosTokenIds)
            actualIds << id;
        QCOMPARE(actualIds, specialIds);
        QCOMPARE(config.parameterCount(), parameterCount);

        // toJsonText writes a config.json that reads back identically.
        const std::string written = config.toJsonText();
        const sp::ModelConfig reread = sp::ModelConfig::fromJsonText(written, "written config.json");
        QVERIFY2(reread == config, written.c_str());
        QCOMPARE(reread.toJsonText(), written);
    }

    // The fields only the newer families have: Gemma's layer pattern, soft caps, query scalar and
    // local RoPE base (also in transformers 5's per-layer-type rope_parameters), Phi-3's partial
    // rotation and longrope, Qwen3's head_dim default.
    void familySpecificFields()
    {
        using sp::ModelConfig;
        ModelConfig gemma3 = ModelConfig::fromJsonText(kGemma3_1b, "g3");
        QCOMPARE(gemma3.layerTypes.size(), std::size_t(26));
        for (std::size_t layer = 0; layer < 26; ++layer)
            QCOMPARE(gemma3.layerTypes[layer],
                     std::string(layer % 6 == 5 ? "full_attention" : "sliding_attention"));
        QCOMPARE(gemma3.ropeLocalTheta, 10000.0);
        QCOMPARE(gemma3.queryPreAttnScalar, 256.0);
        QCOMPARE(gemma3.attnLogitSoftcapping, 0.0);
        QCOMPARE(gemma3.finalLogitSoftcapping, 0.0);
        const ModelConfig gemma2 = ModelConfig::fromJsonText(kGemma2_2b, "g2");
        QCOMPARE(gemma2.layerTypes.front(), std::string("sliding_attention"));
        QCOMPARE(gemma2.layerTypes[1], std::string("full_attention"));
        QCOMPARE(gemma2.attnLogitSoftcapping, 50.0);
        QCOMPARE(gemma2.finalLogitSoftcapping, 30.0);
        // transformers 5 writes Gemma 3's RoPE per layer type.
        gemma3 = ModelConfig::fromJsonText(R"({"model_type": "gemma3_text", "rope_parameters": {
            "full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1000000.0},
            "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}}})", "g3v5");
        QCOMPARE(gemma3.ropeScaling.type, std::string("linear"));
        QCOMPARE(gemma3.ropeScaling.factor, 8.0);
        QCOMPARE(gemma3.ropeTheta, 1000000.0);
        QCOMPARE(gemma3.ropeLocalTheta, 10000.0);
        const ModelConfig phi4 = ModelConfig::fromJsonText(phi4MiniLike().toStdString(), "phi4");
        QCOMPARE(phi4.partialRotaryFactor, 0.75);
        QCOMPARE(phi4.ropeScaling.shortFactor.size(), std::size_t(48));
        QCOMPARE(phi4.ropeScaling.longFactor.back(), 48.0);
        QCOMPARE(phi4.ropeScaling.originalMaxPositionEmbeddings, std::int64_t(4096));
        QCOMPARE(phi4.toJsonText(), ModelConfig::fromJsonText(phi4.toJsonText(), "again").toJsonText());
        const ModelConfig qwen3 = ModelConfig::fromJsonText(R"({"model_type": "qwen3"})", "q3");
        QCOMPARE(qwen3.headDim, std::int64_t(128));
        // yarn: the dictionary's original window, else max_position_embeddings.
        const ModelConfig yarn = ModelConfig::fromJsonText(
            R"({"model_type": "qwen2", "max_position_embeddings": 32768,
                "rope_scaling": {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}})", "y");
        QCOMPARE(yarn.ropeScaling.type, std::string("yarn"));
        QCOMPARE(yarn.ropeScaling.factor, 4.0);
        QCOMPARE(yarn.ropeScaling.originalMaxPositionEmbeddings, std::int64_t(32768));
        QCOMPARE(yarn, ModelConfig::fromJsonText(yarn.toJsonText(), "y2"));
    }

    void optionalFieldsAndSpellings()
    {
        using sp::ModelConfig;
        // transformers 5: a dictionary's own rope_theta beats the top-level field, rope_scaling
        // beats rope_parameters, and "rope_type" beats the legacy "type".
        ModelConfig c = ModelConfig::fromJsonText(
            R"({"model_type": "llama", "rope_theta": 1.0, "rope_parameters": {"rope_theta": 5e5, "rope_type": "default"}})",
            "a");
        QCOMPARE(c.ropeTheta, 5e5);
        c = ModelConfig::fromJsonText(
            R"({"model_type": "llama", "rope_scaling": {"type": "linear", "factor": 2},
                                          "rope_parameters": {"rope_type": "default"}})",
            "b");
        QCOMPARE(c.ropeScaling.type, std::string("linear"));
        QCOMPARE(c.ropeScaling.factor, 2.0);
        c = ModelConfig::fromJsonText(
            R"({"model_type": "llama", "rope_scaling": {"rope_type": "default", "type": "linear", "factor": 2}})",
            "c");
        QCOMPARE(c.ropeScaling.type, std::string("default"));
        // attention_bias in a Llama config biases q, k, v and o; mlp_bias the three MLP projections.
        c = ModelConfig::fromJsonText(R"({"model_type": "llama", "attention_bias": true, "mlp_bias": true,
                                          "hidden_size": 64, "num_attention_heads": 4, "num_hidden_layers": 1,
                                          "intermediate_size": 128, "vocab_size": 10, "tie_word_embeddings": true})",
                                      "d");
        QVERIFY(c.attentionBias && c.attentionOutputBias && c.mlpBias);
        const std::int64_t withoutBiases = 10 * 64 + 2 * 64 + 4 * 64 * 64 + 3 * 64 * 128 + 64;
        QCOMPARE(c.parameterCount(), withoutBiases + (3 * 64 + 64) + (2 * 128 + 64));
        // An explicit head_dim need not divide hidden_size.
        c = ModelConfig::fromJsonText(
            R"({"model_type": "mistral", "hidden_size": 5120, "num_attention_heads": 32, "head_dim": 128})",
            "e");
        QCOMPARE(c.headDim, std::int64_t(128));
        // Qwen2 slides only from max_window_layers on; when that covers no layer there is no window.
        c = ModelConfig::fromJsonText(
            R"({"model_type": "qwen2", "use_sliding_window": true, "sliding_window": 4096,
                                          "max_window_layers": 28, "num_hidden_layers": 24})",
            "f");
        QCOMPARE(c.slidingWindow, kNone);
        c = ModelConfig::fromJsonText(
            R"({"model_type": "qwen2", "use_sliding_window": true, "sliding_window": 4096,
                                          "max_window_layers": 0})",
            "g");
        QCOMPARE(c.slidingWindow, std::optional<std::int64_t>(4096));
        // eos may be null; "swish" is silu; pad and dtype are read; GPT-2's n_* have aliases.
        c = ModelConfig::fromJsonText(R"({"model_type": "gpt2", "eos_token_id": null, "pad_token_id": 3,
                                          "activation_function": "swish", "torch_dtype": "float32",
                                          "hidden_size": 64, "num_attention_heads": 2})",
                                      "h");
        QVERIFY(c.eosTokenIds.empty());
        QCOMPARE(c.activation, std::string("silu"));
        QCOMPARE(c.padTokenId, std::optional<std::int64_t>(3));
        QCOMPARE(c.torchDtype, std::string("float32"));
        QCOMPARE(c.hiddenSize, std::int64_t(64));
        QCOMPARE(c.headDim, std::int64_t(32));
        // Qwen2's own defaults differ from Llama's: no BOS/EOS, q/k/v biases, a larger vocabulary.
        c = ModelConfig::fromJsonText(R"({"model_type": "qwen2"})", "q");
        QCOMPARE(c.vocabSize, std::int64_t(151936));
        QCOMPARE(c.intermediateSize, std::int64_t(22016));
        QCOMPARE(c.numKeyValueHeads, std::int64_t(32));
        QCOMPARE(c.maxPositionEmbeddings, std::int64_t(32768));
        QCOMPARE(c.bosTokenId, kNone);
        QVERIFY(c.eosTokenIds.empty());
        QVERIFY(c.attentionBias && !c.attentionOutputBias && !c.mlpBias && !c.tieWordEmbeddings);
        QCOMPARE(c.slidingWindow, kNone);
        // reorder_and_upcast_attn only changes half-precision rounding: accepted.
        c = ModelConfig::fromJsonText(R"({"model_type": "gpt2", "reorder_and_upcast_attn": true})", "i");
        QCOMPARE(c.numLayers, std::int64_t(12));
    }

    void rejectsUnsupportedConfigs_data()
    {
        QTest::addColumn<QByteArray>("json");
        QTest::addColumn<QStringList>("expected");

        QTest::newRow("other model_type")
            << QByteArray(R"({"model_type": "bert"})")
            << QStringList{"model_type \"bert\" is not supported", "gpt2, llama, qwen2, mistral"};
        QTest::newRow("model_type with a newline") << QByteArray(R"({"model_type": "be\nrt"})")
                                                   << QStringList{"model_type \"be\\nrt\" is not supported"};
        QTest::newRow("no model_type") << QByteArray(R"({"hidden_size": 8})")
                                       << QStringList{"no model_type", "gpt2, llama, qwen2, mistral"};
        QTest::newRow("not JSON") << QByteArray("{\"model_type\": ") << QStringList{"not valid JSON"};
        QTest::newRow("not an object") << QByteArray("[1]") << QStringList{"JSON object"};
        QTest::newRow("unknown RoPE type")
            << QByteArray(R"({"model_type": "llama", "rope_scaling": {"type": "su", "factor": 2.0}})")
            << QStringList{"rope_scaling type \"su\" is not supported", "default, linear, llama3, dynamic, yarn, longrope"};
        QTest::newRow("yarn without factor")
            << QByteArray(R"({"model_type": "qwen2", "rope_parameters": {"rope_type": "yarn"}})")
            << QStringList{"rope_parameters of type \"yarn\"", "needs \"factor\""};
        QTest::newRow("longrope with the wrong number of factors")
            << QByteArray(R"({"model_type": "phi3", "hidden_size": 64, "num_attention_heads": 4,
                             "original_max_position_embeddings": 16, "max_position_embeddings": 64,
                             "rope_scaling": {"type": "longrope", "short_factor": [1, 1], "long_factor": [1, 2]}})")
            << QStringList{"longrope", "need 8 values", "found 2"};
        QTest::newRow("longrope without long_factor")
            << QByteArray(R"({"model_type": "phi3", "rope_scaling": {"type": "longrope", "short_factor": [1]}})")
            << QStringList{"longrope", "long_factor"};
        QTest::newRow("architectures of another family")
            << QByteArray(R"({"model_type": "llama", "architectures": ["Qwen3ForCausalLM"]})")
            << QStringList{"model_type \"llama\" does not match architectures", "Qwen3ForCausalLM",
                           "model_type \"qwen3\""};
        QTest::newRow("architectures unknown")
            << QByteArray(R"({"model_type": "gemma2", "architectures": ["MyGemmaForCausalLM"]})")
            << QStringList{"does not match architectures", "Gemma2ForCausalLM"};
        QTest::newRow("gemma layer_types of the wrong length")
            << QByteArray(R"({"model_type": "gemma3_text", "num_hidden_layers": 3,
                             "layer_types": ["sliding_attention", "full_attention"]})")
            << QStringList{"layer_types has 2 entries for 3 layers"};
        QTest::newRow("per-layer RoPE without full_attention")
            << QByteArray(R"({"model_type": "gemma3_text", "rope_parameters": {"sliding_attention":
                             {"rope_type": "default", "rope_theta": 10000.0}}})")
            << QStringList{"full_attention"};
        QTest::newRow("llama3 without original_max_position_embeddings")
            << QByteArray(R"({"model_type": "llama", "rope_scaling": {"rope_type": "llama3", "factor": 8.0,
                             "low_freq_factor": 1.0, "high_freq_factor": 4.0}})")
            << QStringList{"llama3", "original_max_position_embeddings"};
        QTest::newRow("linear without factor")
            << QByteArray(R"({"model_type": "llama", "rope_scaling": {"type": "linear"}})")
            << QStringList{"\"linear\"", "needs \"factor\""};
        QTest::newRow("per-layer RoPE")
            << QByteArray(
                   R"({"model_type": "llama", "rope_parameters": {"full_attention": {"rope_type": "default"}}})")
            << QStringList{"per layer type"};
        QTest::newRow("partial rotary")
            << QByteArray(R"({"model_type": "llama", "partial_rotary_factor": 0.5})")
            << QStringList{"partial_rotary_factor", "not supported"};
        QTest::newRow("scale_attn_by_inverse_layer_idx")
            << QByteArray(R"({"model_type": "gpt2", "scale_attn_by_inverse_layer_idx": true})")
            << QStringList{"scale_attn_by_inverse_layer_idx", "not supported"};
        QTest::newRow("unscaled attention")
            << QByteArray(R"({"model_type": "gpt2", "scale_attn_weights": false})")
            << QStringList{"scale_attn_weights", "not supported"};
        QTest::newRow("cross attention")
            << QByteArray(R"({"model_type": "gpt2", "add_cross_attention": true})")
            << QStringList{"add_cross_attention"};
        QTest::newRow("Qwen2 sliding on some layers")
            << QByteArray(R"({"model_type": "qwen2", "use_sliding_window": true, "max_window_layers": 21,
                             "num_hidden_layers": 24})")
            << QStringList{"max_window_layers 21", "only some layers"};
        QTest::newRow("mixed layer_types") << QByteArray(R"({"model_type": "mistral", "num_hidden_layers": 2,
                             "layer_types": ["sliding_attention", "full_attention"]})")
                                           << QStringList{"layer_types", "not supported"};
        QTest::newRow("unknown activation")
            << QByteArray(R"({"model_type": "llama", "hidden_act": "mish"})")
            << QStringList{"hidden_act \"mish\"", "gelu_new", "quick_gelu", "silu"};
        QTest::newRow("heads not a multiple of kv heads")
            << QByteArray(R"({"model_type": "llama", "num_key_value_heads": 5})")
            << QStringList{"num_attention_heads 32", "num_key_value_heads 5"};
        QTest::newRow("hidden not divisible by heads")
            << QByteArray(R"({"model_type": "llama", "hidden_size": 100})")
            << QStringList{"hidden_size 100", "num_attention_heads 32", "no head_dim"};
        QTest::newRow("GPT-2 n_embd not divisible") << QByteArray(R"({"model_type": "gpt2", "n_embd": 100})")
                                                    << QStringList{"n_embd 100", "n_head 12"};
        QTest::newRow("string where a number belongs")
            << QByteArray(R"({"model_type": "llama", "hidden_size": "2048"})")
            << QStringList{"hidden_size must be an integer", "\"2048\""};
        QTest::newRow("boolean field as string")
            << QByteArray(R"({"model_type": "llama", "tie_word_embeddings": "yes"})")
            << QStringList{"tie_word_embeddings must be true or false"};
        QTest::newRow("non-positive size") << QByteArray(R"({"model_type": "llama", "num_hidden_layers": 0})")
                                           << QStringList{"number of layers must be positive"};
        QTest::newRow("eos outside the vocabulary")
            << QByteArray(R"({"model_type": "llama", "eos_token_id": [2, 40000]})")
            << QStringList{"eos_token_id 40000", "32000"};
    }

    void rejectsUnsupportedConfigs()
    {
        QFETCH(QByteArray, json);
        QFETCH(QStringList, expected);
        SP_EXPECT_ERROR(sp::ModelConfig::fromJsonText(json.toStdString(), "/models/x/config.json"),
                        expected + QStringList{"/models/x/config.json: "});
    }

    void readsFilesAndFolders()
    {
        QTemporaryDir dir;
        const QString file = QDir(dir.path()).filePath("config.json");
        SP_EXPECT_ERROR(sp::ModelConfig::fromFile(dir.path().toStdString()),
                        (QStringList{file, "not found"}));
        sptest::writeFile(file, kTinyLlama);
        QCOMPARE(sp::ModelConfig::fromFile(dir.path().toStdString()).numLayers, std::int64_t(22));
        QCOMPARE(sp::ModelConfig::fromFile(file.toStdString()).numKeyValueHeads, std::int64_t(4));
    }
};

QTEST_GUILESS_MAIN(TestModelConfig)
#include "test_model_config.moc"
