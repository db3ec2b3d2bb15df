// The families added after Llama (Qwen3, Phi-3, Gemma 2, Gemma 3): tiny random checkpoints written
// here in transformers' layout (config.json as the hub publishes it, tensor names as the modeling
// files define them) load and run; what only these families do is checked on its own (sliding
// windows, soft caps, the √d embedding scale, partial rotation); and corrupt or mislabelled
// checkpoints are refused with errors that name the tensors. Numerics against an outside engine:
// test_model_onnx (Llama) and, once generated on a machine with transformers, hfTinyGolden.
#ifndef Q_MOC_RUN // moc needs none of these; following them into torch took it ~10 s a test
#include "model/causal_lm.h"
#include "model/generation.h"
#include "model/rope.h"
#include "softprompt/error.h"
#include "softprompt/paths.h"
#include "softprompt/safetensors.h"
#include "test_model_support.h"
#endif

#include <QDir>
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <functional>

using namespace modeltest;
using sp::model::CausalLM;

namespace {

struct NamedShape {
    std::string name;
    std::vector<std::int64_t> shape;
};

// The config.json of each tiny checkpoint, in the published files' spelling.
std::string configJson(const std::string& family)
{
    if (family == "qwen3")
        return R"({"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "vocab_size": 64,
            "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4,
            "num_key_value_heads": 2, "head_dim": 16, "max_position_embeddings": 128, "rms_norm_eps": 1e-6,
            "rope_theta": 1000000, "rope_scaling": null, "attention_bias": false, "tie_word_embeddings": true,
            "use_sliding_window": false, "sliding_window": null, "bos_token_id": 1, "eos_token_id": 2})";
    if (family == "phi3")
        return R"({"architectures": ["Phi3ForCausalLM"], "model_type": "phi3", "vocab_size": 64,
            "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4,
            "num_key_value_heads": 2, "max_position_embeddings": 64, "original_max_position_embeddings": 16,
            "partial_rotary_factor": 0.75, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
            "rope_scaling": {"type": "longrope", "short_factor": [1.0, 1.2, 2.0], "long_factor": [1.0, 3.0, 9.0]},
            "sliding_window": 40, "tie_word_embeddings": false, "bos_token_id": 1, "eos_token_id": 2})";
    if (family == "gemma2")
        return R"({"architectures": ["Gemma2ForCausalLM"], "model_type": "gemma2", "vocab_size": 64,
            "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4,
            "num_key_value_heads": 2, "head_dim": 16, "max_position_embeddings": 128, "rms_norm_eps": 1e-6,
            "hidden_act": "gelu_pytorch_tanh", "hidden_activation": "gelu_pytorch_tanh",
            "query_pre_attn_scalar": 12, "attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0,
            "sliding_window": 8, "rope_theta": 10000.0, "bos_token_id": 2, "eos_token_id": 1, "pad_token_id": 0})";
    return R"({"architectures": ["Gemma3ForCausalLM"], "model_type": "gemma3_text", "vocab_size": 64,
            "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 3, "num_attention_heads": 4,
            "num_key_value_heads": 1, "head_dim": 16, "max_position_embeddings": 128, "rms_norm_eps": 1e-6,
            "hidden_activation": "gelu_pytorch_tanh", "query_pre_attn_scalar": 16,
            "attn_logit_softcapping": null, "final_logit_softcapping": null, "sliding_window": 8,
            "sliding_window_pattern": 3, "rope_theta": 1000000, "rope_local_base_freq": 10000,
            "rope_scaling": {"rope_type": "linear", "factor": 8.0}, "bos_token_id": 2, "eos_token_id": [1, 3],
            "pad_token_id": 0})";
}

// The tensors transformers' Qwen3ForCausalLM, Phi3ForCausalLM, Gemma2ForCausalLM and
// Gemma3ForCausalLM hold for those configs (listed from the modeling files, not from our loader).
std::vector<NamedShape> checkpointTensors(const std::string& family)
{
    const std::int64_t d = 32, inner = 48, vocab = 64;
    std::vector<NamedShape> tensors{{"model.embed_tokens.weight", {vocab, d}}, {"model.norm.weight", {d}}};
    const bool gemma = family == "gemma2" || family == "gemma3";
    const std::int64_t layers = family == "gemma3" ? 3 : 2;
    const std::int64_t headDim = family == "phi3" ? 8 : 16;
    const std::int64_t heads = 4, kvHeads = family == "gemma3" ? 1 : 2;
    for (std::int64_t l = 0; l < layers; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        tensors.push_back({p + "input_layernorm.weight", {d}});
        tensors.push_back({p + "post_attention_layernorm.weight", {d}});
        tensors.push_back({p + "self_attn.o_proj.weight", {d, heads * headDim}});
        tensors.push_back({p + "mlp.down_proj.weight", {d, inner}});
        if (family == "phi3") {
            tensors.push_back({p + "self_attn.qkv_proj.weight", {(heads + 2 * kvHeads) * headDim, d}});
            tensors.push_back({p + "mlp.gate_up_proj.weight", {2 * inner, d}});
            continue;
        }
        tensors.push_back({p + "self_attn.q_proj.weight", {heads * headDim, d}});
        tensors.push_back({p + "self_attn.k_proj.weight", {kvHeads * headDim, d}});
        tensors.push_back({p + "self_attn.v_proj.weight", {kvHeads * headDim, d}});
        tensors.push_back({p + "mlp.gate_proj.weight", {inner, d}});
        tensors.push_back({p + "mlp.up_proj.weight", {inner, d}});
        if (family == "qwen3" || family == "gemma3") {
            tensors.push_back({p + "self_attn.q_norm.weight", {headDim}});
            tensors.push_back({p + "self_attn.k_norm.weight", {headDim}});
        }
        if (gemma) {
            tensors.push_back({p + "pre_feedforward_layernorm.weight", {d}});
            tensors.push_back({p + "post_feedforward_layernorm.weight", {d}});
        }
    }
    if (family == "phi3")
        tensors.push_back({"lm_head.weight", {vocab, d}});
    return tensors;
}

// Writes config.json and model.safetensors with seeded N(0, 0.3) weights (norms near their identity).
void writeCheckpoint(const std::string& folder, const std::string& config, const std::vector<NamedShape>& tensors,
                     std::uint64_t seed = 11)
{
    QDir().mkpath(QString::fromStdString(folder));
    sp::writeTextFile(folder + "/config.json", config);
    at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(seed);
    std::vector<at::Tensor> values;
    std::vector<sp::TensorToWrite> written;
    for (const NamedShape& tensor : tensors) {
        at::Tensor value = at::empty(tensor.shape, at::kFloat).normal_(0.0, 0.3, generator);
        if (tensor.shape.size() == 1 && tensor.name.find("norm") != std::string::npos)
            value = value * 0.3 + (config.find("gemma") != std::string::npos ? 0.0 : 1.0);
        values.push_back(value.contiguous());
        written.push_back({tensor.name, sp::TensorDType::F32, tensor.shape, values.back().data_ptr()});
    }
    sp::writeSafetensors(folder + "/model.safetensors", written, {{"format", "pt"}});
}

std::string folderIn(const QTemporaryDir& dir, const std::string& name)
{
    return dir.path().toStdString() + "/" + name;
}

void expectLoadError(const std::string& folder, const QStringList& expected)
{
    try {
        CausalLM::loadFolder(folder, at::kCPU, at::kFloat);
        QFAIL(qPrintable("loaded, expected an error naming " + expected.join(", ")));
    } catch (const sp::Error& error) {
        const QString message = QString::fromUtf8(error.what());
        for (const QString& part : expected)
            QVERIFY2(message.contains(part), qPrintable("'" + part + "' missing from: " + message));
    }
}

at::Tensor logitsOf(const CausalLM& model, const at::Tensor& ids)
{
    at::NoGradGuard noGrad;
    return model.forwardIds(ids).logits;
}

} // namespace

class TestModelFamilies : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void tinyCheckpointsLoadAndRun_data()
    {
        QTest::addColumn<QString>("family");
        for (const char* family : {"qwen3", "phi3", "gemma2", "gemma3"})
            QTest::newRow(family) << family;
    }
    void tinyCheckpointsLoadAndRun()
    {
        QFETCH(QString, family);
        QTemporaryDir dir;
        const std::string folder = folderIn(dir, family.toStdString());
        writeCheckpoint(folder, configJson(family.toStdString()), checkpointTensors(family.toStdString()));
        const auto model = CausalLM::loadFolder(folder, at::kCPU, at::kFloat);
        const at::Tensor ids = randomIds(2, 20, 64, 3); // [2, 20]: past Gemma's window of 8, Phi-3's original 16
        const at::Tensor logits = logitsOf(*model, ids);
        QCOMPARE(logits.sizes(), (at::IntArrayRef{2, 20, 64}));
        QVERIFY(logits.isfinite().all().item<bool>());
        QVERIFY2(logits.std().item<double>() > 0.05, "the logits do not depend on the input");
        // Decoding with the cache gives the argmax of full recomputes, also past the windows.
        // 6 + 8 tokens: past Gemma's window of 8, within Phi-3's original 16 (longrope switches the
        // factors of the whole sequence past it, so a cache prefilled before the switch would differ
        // from a recompute after it, in transformers as here).
        const std::vector<std::int64_t> prompt{5, 9, 3, 17, 40, 22};
        const std::vector<std::int64_t> generated = sp::model::greedyDecode(*model, prompt, 8, {});
        QCOMPARE(generated.size(), std::size_t(8));
        std::vector<std::int64_t> sequence = prompt;
        for (std::int64_t next : generated) {
            const at::Tensor full = logitsOf(*model, at::tensor(sequence, at::kLong).unsqueeze(0)); // [1, T, V]
            QCOMPARE(full[0][-1].argmax().item<std::int64_t>(), next);
            sequence.push_back(next);
        }
        // Saving writes a checkpoint that loads back to the same numbers.
        const std::string copy = folderIn(dir, "copy");
        model->save(copy);
        QCOMPARE(maxAbsDiff(logitsOf(*CausalLM::loadFolder(copy, at::kCPU, at::kFloat), ids), logits), 0.0);
    }

    void brokenCheckpointsAreRefused_data()
    {
        QTest::addColumn<QString>("family");      // the weights
        QTest::addColumn<QString>("configOf");    // the config.json written beside them
        QTest::addColumn<QString>("change");      // what else is wrong
        QTest::addColumn<QStringList>("expected"); // in the error
        QTest::newRow("Qwen3 relabelled llama")
            << "qwen3" << "qwen3 as llama" << ""
            << QStringList{"does not use", "model.layers.0.self_attn.q_norm.weight", "k_norm", "Qwen3",
                           "model_type"};
        QTest::newRow("Gemma 2 weights under a Llama config")
            << "gemma2" << "gemma2 as llama" << ""
            << QStringList{"pre_feedforward_layernorm", "Gemma 2/3"};
        QTest::newRow("Qwen3 weights under a Gemma 3 config")
            << "qwen3" << "gemma3 as qwen3 shapes" << ""
            << QStringList{"missing", "pre_feedforward_layernorm"};
        QTest::newRow("Phi-3 weights under a Llama config")
            << "phi3" << "phi3 as llama" << ""
            << QStringList{"missing", "self_attn.q_proj.weight", "qkv_proj", "Phi-3"};
        QTest::newRow("missing tensor") << "gemma3" << "gemma3" << "drop model.layers.2.self_attn.k_norm.weight"
                                        << QStringList{"1 weight(s) missing", "model.layers.2.self_attn.k_norm.weight"};
        QTest::newRow("unknown tensor") << "qwen3" << "qwen3" << "add model.layers.1.mlp.extra_proj.weight"
                                        << QStringList{"1 tensor(s)", "does not use", "model.layers.1.mlp.extra_proj.weight"};
        QTest::newRow("a layer more than the config")
            << "gemma2" << "gemma2 one layer" << ""
            << QStringList{"does not use", "model.layers.1.", "fewer layers"};
        QTest::newRow("wrong shape") << "phi3" << "phi3" << "shape model.layers.0.self_attn.qkv_proj.weight"
                                     << QStringList{"model.layers.0.self_attn.qkv_proj.weight has shape [80, 32]",
                                                    "config.json implies [64, 32]"};
        QTest::newRow("architectures against model_type")
            << "gemma3" << "gemma3 named Gemma2ForCausalLM" << ""
            << QStringList{"model_type \"gemma3_text\" does not match architectures", "Gemma2ForCausalLM"};
    }
    void brokenCheckpointsAreRefused()
    {
        QFETCH(QString, family);
        QFETCH(QString, configOf);
        QFETCH(QString, change);
        QFETCH(QStringList, expected);
        std::string config = configJson(configOf.section(' ', 0, 0).toStdString());
        auto replace = [&config](const std::string& from, const std::string& to) {
            const std::size_t at = config.find(from);
            QVERIFY2(at != std::string::npos, from.c_str());
            config.replace(at, from.size(), to);
        };
        if (configOf.endsWith("as llama")) {
            replace("\"model_type\": \"" + configOf.section(' ', 0, 0).toStdString() + "\"", "\"model_type\": \"llama\"");
            const std::size_t open = config.find("[\"");
            config.replace(open, config.find("\"]") + 2 - open, "[\"LlamaForCausalLM\"]");
            if (configOf.startsWith("phi3")) { // Llama rotates whole heads and has no longrope factors for them
                replace("\"partial_rotary_factor\": 0.75,", "");
                config.replace(config.find("{\"type\": \"longrope\""), config.find("]}") + 2 - config.find("{\"type\": \"longrope\""),
                               "null");
            }
        } else if (configOf.endsWith("as qwen3 shapes")) {
            // A Gemma 3 config with Qwen3's sizes: the weights lack Gemma's feed-forward norms.
            config = configJson("gemma3");
            replace("\"num_hidden_layers\": 3", "\"num_hidden_layers\": 2");
            replace("\"num_key_value_heads\": 1", "\"num_key_value_heads\": 2");
            replace("\"sliding_window_pattern\": 3", "\"sliding_window_pattern\": 2");
        } else if (configOf.endsWith("one layer")) {
            replace("\"num_hidden_layers\": 2", "\"num_hidden_layers\": 1");
        } else if (configOf.endsWith("Gemma2ForCausalLM")) {
            replace("Gemma3ForCausalLM", "Gemma2ForCausalLM");
        }
        std::vector<NamedShape> tensors = checkpointTensors(family.toStdString());
        const std::string target = change.section(' ', 1).toStdString();
        if (change.startsWith("drop"))
            tensors.erase(std::remove_if(tensors.begin(), tensors.end(),
                                         [&](const NamedShape& t) { return t.name == target; }),
                          tensors.end());
        else if (change.startsWith("add"))
            tensors.push_back({target, {48, 32}});
        else if (change.startsWith("shape"))
            for (NamedShape& tensor : tensors)
                if (tensor.name == target)
                    tensor.shape = {80, 32};
        QTemporaryDir dir;
        const std::string folder = folderIn(dir, "broken");
        writeCheckpoint(folder, config, tensors);
        expectLoadError(folder, expected + QStringList{QString::fromStdString(folder)});
    }

    // A tied head saved anyway and the buffers old checkpoints carry are not "unused weights".
    void tiedHeadCopiesAndBuffersAreAccepted()
    {
        QTemporaryDir dir;
        const std::string folder = folderIn(dir, "qwen3");
        std::vector<NamedShape> tensors = checkpointTensors("qwen3");
        tensors.push_back({"lm_head.weight", {64, 32}});
        tensors.push_back({"model.layers.0.self_attn.rotary_emb.inv_freq", {8}});
        writeCheckpoint(folder, configJson("qwen3"), tensors);
        const auto model = CausalLM::loadFolder(folder, at::kCPU, at::kFloat);
        QVERIFY(logitsOf(*model, randomIds(1, 4, 64, 1)).isfinite().all().item<bool>());
    }

    // Sliding-window layers see the last `window` tokens: with every layer sliding (window 4, two
    // layers), a token's influence reaches 2 * 3 positions ahead and no further; a global layer
    // reaches everywhere. transformers masks by cache index: key k is visible to query q when
    // q - window < k <= q.
    void slidingWindowBoundsTheReceptiveField_data()
    {
        QTest::addColumn<QString>("family");
        QTest::addColumn<bool>("allSliding");
        QTest::addColumn<int>("firstUnaffected"); // -1: every later position changes
        QTest::newRow("gemma2 all sliding") << "gemma2" << true << 7;
        QTest::newRow("gemma2 alternating") << "gemma2" << false << -1;
        QTest::newRow("gemma3 all sliding") << "gemma3" << true << 10; // three layers
        QTest::newRow("phi3 sliding") << "phi3" << true << 7;
    }
    void slidingWindowBoundsTheReceptiveField()
    {
        QFETCH(QString, family);
        QFETCH(bool, allSliding);
        QFETCH(int, firstUnaffected);
        sp::ModelConfig config = configNamed(family.toStdString());
        config.slidingWindow = 4;
        if (allSliding && !config.layerTypes.empty())
            config.layerTypes.assign(config.layerTypes.size(), "sliding_attention");
        const auto model = randomModel(config, 21);
        at::Tensor ids = randomIds(1, 14, config.vocabSize, 8);
        const at::Tensor before = logitsOf(*model, ids); // [1, 14, V]
        ids[0][0] = (ids[0][0].item<std::int64_t>() + 1) % config.vocabSize;
        const at::Tensor after = logitsOf(*model, ids);
        for (std::int64_t position = 0; position < 14; ++position) {
            const double change = maxAbsDiff(before[0][position], after[0][position]);
            const bool reachable = firstUnaffected < 0 || position < firstUnaffected;
            QVERIFY2(reachable ? change > 1e-6 : change <= 1e-7,
                     qPrintable(QString("position %1: change %2").arg(position).arg(change)));
        }
        // Decoding past the window with the cache equals the full recompute.
        at::NoGradGuard noGrad;
        const auto prefix = model->forwardIds(ids.narrow(1, 0, 9), nullptr, true);
        const at::Tensor rest = model->forwardIds(ids.narrow(1, 9, 5), &prefix.cache).logits;
        const double difference = maxAbsDiff(rest, after.narrow(1, 9, 5));
        QVERIFY2(difference <= 1e-5, qPrintable(QString::number(difference)));
        // Beyond the window there is nothing to refuse: the window is masked, not a limit.
        model->checkSequenceLength(config.maxPositionEmbeddings, "the context");
    }

    // Gemma 2 bounds every logit by final_logit_softcapping and every attention score by
    // attn_logit_softcapping; without the caps the logits grow past them.
    void softCapsBoundTheLogits()
    {
        sp::ModelConfig config = tinyGemma2(); // final cap 3
        const auto capped = randomModel(config, 31);
        const at::Tensor ids = randomIds(2, 10, config.vocabSize, 2);
        const at::Tensor logits = logitsOf(*capped, ids);
        QVERIFY(logits.abs().max().item<double>() < 3.0);
        config.finalLogitSoftcapping = 0.0;
        const at::Tensor uncapped = logitsOf(*randomModel(config, 31), ids);
        QVERIFY2(uncapped.abs().max().item<double>() > 3.0, "the test model's logits never reach the cap");
        // The capped logits are cap * tanh(uncapped / cap) of the same model.
        const double difference = maxAbsDiff(logits, (uncapped / 3.0).tanh() * 3.0);
        QVERIFY2(difference <= 1e-5, qPrintable(QString::number(difference)));
        config.attnLogitSoftcapping = 0.0;
        QVERIFY(maxAbsDiff(logitsOf(*randomModel(config, 31), ids), uncapped) > 1e-4); // the attention cap acts
    }

    // Gemma 2 scales whatever embeddings reach the model by √d (a soft prompt lives unscaled, as
    // transformers' inputs_embeds do); Gemma 3 scales the token embedding itself.
    void embeddingScaleFollowsTransformers()
    {
        at::NoGradGuard noGrad;
        const at::Tensor ids = randomIds(1, 5, 101, 4);
        const auto gemma2 = randomModel(tinyGemma2(), 41);
        const at::Tensor rows2 = gemma2->embeddingMatrix().index_select(0, ids[0]).unsqueeze(0);
        QCOMPARE(maxAbsDiff(gemma2->embed(ids), rows2), 0.0);
        const auto gemma3 = randomModel(tinyGemma3(), 41);
        const at::Tensor rows3 = gemma3->embeddingMatrix().index_select(0, ids[0]).unsqueeze(0);
        const float scale = std::sqrt(32.0f);
        QCOMPARE(maxAbsDiff(gemma3->embed(ids), rows3 * scale), 0.0);
        // For Gemma 2 the scale is inside forward: unscaled rows in, the same logits as the ids.
        sp::model::ForwardInput input;
        input.inputsEmbeds = rows2;
        input.positions = at::arange(5, at::kLong).unsqueeze(0);
        QCOMPARE(maxAbsDiff(gemma2->forward(input).logits, logitsOf(*gemma2, ids)), 0.0);
    }

    // Phi-4-mini rotates the first 3/4 of each head; the rest passes through unchanged.
    void partialRotaryLeavesTheRestOfEachHead()
    {
        const sp::ModelConfig config = tinyPhi3(); // head 8, rotary 6
        const auto frequencies = sp::model::ropeFrequencies(sp::model::ropeParameters(config), 10);
        const at::Tensor positions = at::arange(6, at::kLong).unsqueeze(0) + 3; // [1, 6]
        const sp::model::RotaryTables tables = sp::model::rotaryTables(frequencies.inverse, positions, at::kFloat);
        const at::Tensor heads = at::randn({1, 2, 6, 8}, at::kFloat);
        const at::Tensor rotated = sp::model::applyRotary(heads, tables);
        QCOMPARE(maxAbsDiff(rotated.narrow(-1, 6, 2), heads.narrow(-1, 6, 2)), 0.0);
        QVERIFY(maxAbsDiff(rotated.narrow(-1, 0, 6), heads.narrow(-1, 0, 6)) > 1e-3);
    }
};

QTEST_APPLESS_MAIN(TestModelFamilies)
#include "test_model_families.moc"
