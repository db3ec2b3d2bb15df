// The model against an independent, deliberately naive re-derivation of the GPT-2 and Llama forward
// passes in float64 (one head at a time, explicit repeat_kv, explicit rotate_half, formulas written
// from the papers and transformers' documented conventions), and RoPE scaling against closed forms.
#include "model/causal_lm.h"
#include "model/layers.h"
#include "softprompt/error.h"
#include "test_model_support.h"

#include <QtTest>

#include <cmath>
#include <map>

using namespace modeltest;
using sp::model::CausalLM;

namespace {

using Weights = std::map<std::string, at::Tensor>;

Weights weightsOf(const CausalLM& model)
{
    Weights weights;
    for (const auto& [name, tensor] : model.namedParameters())
        weights[name] = tensor.detach().to(at::kDouble);
    return weights;
}

// RoPE inverse frequencies in double from the closed forms (Su et al.; Meta's llama3 scaling).
std::vector<double> referenceFrequencies(const sp::ModelConfig& config)
{
    std::vector<double> frequencies;
    const double dim = double(config.headDim);
    for (std::int64_t i = 0; i < config.headDim / 2; ++i) {
        const double base = 1.0 / std::pow(config.ropeTheta, 2.0 * double(i) / dim);
        const sp::RopeScaling& s = config.ropeScaling;
        if (s.type == "linear") {
            frequencies.push_back(base / s.factor);
        } else if (s.type == "llama3") {
            const double wavelength = 2 * M_PI / base;
            const double original = double(s.originalMaxPositionEmbeddings);
            if (wavelength < original / s.highFreqFactor) {
                frequencies.push_back(base);
            } else if (wavelength > original / s.lowFreqFactor) {
                frequencies.push_back(base / s.factor);
            } else {
                const double smooth =
                    (original / wavelength - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
                frequencies.push_back((1 - smooth) * base / s.factor + smooth * base);
            }
        } else {
            frequencies.push_back(base);
        }
    }
    return frequencies;
}

at::Tensor softmaxRows(const at::Tensor& scores)
{
    const at::Tensor shifted = scores - std::get<0>(scores.max(-1, true));
    const at::Tensor exponentials = shifted.exp();
    return exponentials / exponentials.sum(-1, true);
}

// Causal attention of one head: q [T, Dh], k and v [T, Dh] -> [T, Dh].
at::Tensor oneHead(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v)
{
    const std::int64_t length = q.size(0);
    at::Tensor scores = q.matmul(k.t()) / std::sqrt(double(q.size(1))); // [T, T]
    const at::Tensor future = at::ones({length, length}, at::kBool).triu(1);
    scores = scores.masked_fill(future, -1e300);
    return softmaxRows(scores).matmul(v);
}

at::Tensor layerNorm(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, double epsilon)
{
    const at::Tensor mean = x.mean(-1, true);
    const at::Tensor variance = (x - mean).pow(2).mean(-1, true);
    return (x - mean) / (variance + epsilon).sqrt() * weight + bias;
}

at::Tensor referenceGpt2(const CausalLM& model, const std::vector<std::int64_t>& ids)
{
    const sp::ModelConfig& c = model.config();
    Weights w = weightsOf(model);
    const std::int64_t length = std::int64_t(ids.size());
    const at::Tensor idTensor = at::tensor(ids, at::kLong);
    at::Tensor x = w["transformer.wte.weight"].index_select(0, idTensor) +
                   w["transformer.wpe.weight"].narrow(0, 0, length); // [T, d]
    const std::int64_t d = c.hiddenSize;
    for (std::int64_t l = 0; l < c.numLayers; ++l) {
        const std::string p = "transformer.h." + std::to_string(l) + ".";
        const at::Tensor h = layerNorm(x, w[p + "ln_1.weight"], w[p + "ln_1.bias"], c.normEpsilon);
        const at::Tensor qkv =
            h.matmul(w[p + "attn.c_attn.weight"]) + w[p + "attn.c_attn.bias"]; // Conv1D: x W + b
        std::vector<at::Tensor> heads;
        for (std::int64_t head = 0; head < c.numHeads; ++head) {
            const std::int64_t offset = head * c.headDim;
            heads.push_back(oneHead(qkv.narrow(1, offset, c.headDim), qkv.narrow(1, d + offset, c.headDim),
                                    qkv.narrow(1, 2 * d + offset, c.headDim)));
        }
        x = x + at::cat(heads, 1).matmul(w[p + "attn.c_proj.weight"]) + w[p + "attn.c_proj.bias"];
        const at::Tensor h2 = layerNorm(x, w[p + "ln_2.weight"], w[p + "ln_2.bias"], c.normEpsilon);
        const at::Tensor u = h2.matmul(w[p + "mlp.c_fc.weight"]) + w[p + "mlp.c_fc.bias"];
        const at::Tensor gelu = 0.5 * u * (1 + (std::sqrt(2 / M_PI) * (u + 0.044715 * u.pow(3))).tanh());
        x = x + gelu.matmul(w[p + "mlp.c_proj.weight"]) + w[p + "mlp.c_proj.bias"];
    }
    x = layerNorm(x, w["transformer.ln_f.weight"], w["transformer.ln_f.bias"], c.normEpsilon);
    return x.matmul(w["transformer.wte.weight"].t()); // tied head
}

at::Tensor rmsNormReference(const at::Tensor& x, const at::Tensor& weight, double epsilon)
{
    return x / (x.pow(2).mean(-1, true) + epsilon).sqrt() * weight;
}

// Rotates pairs (i, i + Dh/2) of each row of `x` [T, Dh] by angle position * frequency_i.
at::Tensor rotateHalfPairs(const at::Tensor& x, const std::vector<double>& frequencies)
{
    at::Tensor out = x.clone();
    const std::int64_t half = x.size(1) / 2;
    for (std::int64_t t = 0; t < x.size(0); ++t)
        for (std::int64_t i = 0; i < half; ++i) {
            // transformers computes the angle in float32; so does this reference.
            const float angle = float(t) * float(frequencies[std::size_t(i)]);
            const double cosine = std::cos(double(angle));
            const double sine = std::sin(double(angle));
            const double a = x[t][i].item<double>();
            const double b = x[t][i + half].item<double>();
            out[t][i] = a * cosine - b * sine;
            out[t][i + half] = b * cosine + a * sine;
        }
    return out;
}

at::Tensor referenceLlama(const CausalLM& model, const std::vector<std::int64_t>& ids)
{
    const sp::ModelConfig& c = model.config();
    Weights w = weightsOf(model);
    const std::vector<double> frequencies = referenceFrequencies(c);
    const at::Tensor idTensor = at::tensor(ids, at::kLong);
    at::Tensor x = w["model.embed_tokens.weight"].index_select(0, idTensor); // [T, d]
    const std::int64_t group = c.numHeads / c.numKeyValueHeads;
    auto projection = [&w](const std::string& name, const at::Tensor& input) {
        at::Tensor out = input.matmul(w[name + ".weight"].t());
        if (w.count(name + ".bias"))
            out = out + w[name + ".bias"];
        return out;
    };
    for (std::int64_t l = 0; l < c.numLayers; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        const at::Tensor h = rmsNormReference(x, w[p + "input_layernorm.weight"], c.normEpsilon);
        const at::Tensor q = projection(p + "self_attn.q_proj", h);
        const at::Tensor k = projection(p + "self_attn.k_proj", h);
        const at::Tensor v = projection(p + "self_attn.v_proj", h);
        std::vector<at::Tensor> heads;
        for (std::int64_t head = 0; head < c.numHeads; ++head) {
            const std::int64_t kvHead =
                head / group; // repeat_kv: each key/value head serves `group` query heads
            heads.push_back(oneHead(rotateHalfPairs(q.narrow(1, head * c.headDim, c.headDim), frequencies),
                                    rotateHalfPairs(k.narrow(1, kvHead * c.headDim, c.headDim), frequencies),
                                    v.narrow(1, kvHead * c.headDim, c.headDim)));
        }
        x = x + projection(p + "self_attn.o_proj", at::cat(heads, 1));
        const at::Tensor h2 = rmsNormReference(x, w[p + "post_attention_layernorm.weight"], c.normEpsilon);
        const at::Tensor gate = projection(p + "mlp.gate_proj", h2);
        x = x +
            projection(p + "mlp.down_proj", gate / (1 + (-gate).exp()) * projection(p + "mlp.up_proj", h2));
    }
    x = rmsNormReference(x, w["model.norm.weight"], c.normEpsilon);
    const at::Tensor head = c.tieWordEmbeddings ? w["model.embed_tokens.weight"] : w["lm_head.weight"];
    return x.matmul(head.t());
}

} // namespace

class TestModelReference : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void forwardMatchesNaiveReference_data()
    {
        QTest::addColumn<QString>("architecture");
        for (const char* name : allArchitectures)
            QTest::newRow(name) << QString::fromLatin1(name);
    }
    void forwardMatchesNaiveReference()
    {
        QFETCH(QString, architecture);
        const auto model = randomModel(configNamed(architecture.toStdString()), 17);
        const std::vector<std::int64_t> ids{5, 17, 3, 88, 41, 9, 60, 2, 33, 71, 12};
        at::NoGradGuard noGrad;
        const at::Tensor logits =
            model->forwardIds(at::tensor(ids, at::kLong).unsqueeze(0)).logits[0]; // [T, V]
        const at::Tensor reference =
            architecture == "gpt2" ? referenceGpt2(*model, ids) : referenceLlama(*model, ids); // [T, V]
        const double difference = maxAbsDiff(logits, reference);
        qInfo("%s: max |model (fp32) - naive reference (fp64)| = %.3g, max |logit| = %.3g",
              qPrintable(architecture), difference, maxAbs(reference));
        QVERIFY(maxAbs(reference) > 0.5);
        QVERIFY2(difference <= 1e-5, qPrintable(QString::number(difference)));
    }

    void ropeScalingFrequencies_data()
    {
        QTest::addColumn<QString>("type");
        QTest::newRow("default") << "default";
        QTest::newRow("linear") << "linear";
        QTest::newRow("llama3") << "llama3";
    }
    void ropeScalingFrequencies()
    {
        QFETCH(QString, type);
        sp::ModelConfig config = tinyLlama();
        config.headDim = 16;
        config.ropeScaling.type = type.toStdString();
        config.ropeScaling.factor = 8.0;
        config.ropeScaling.lowFreqFactor = 1.0;
        config.ropeScaling.highFreqFactor = 4.0;
        config.ropeScaling.originalMaxPositionEmbeddings = 32;
        const at::Tensor computed = sp::model::ropeInverseFrequencies(config); // [8]
        const std::vector<double> expected = referenceFrequencies(config);
        QCOMPARE(computed.size(0), std::int64_t(expected.size()));
        int kept = 0, divided = 0, interpolated = 0;
        for (std::size_t i = 0; i < expected.size(); ++i) {
            const double value = computed[std::int64_t(i)].item<double>();
            QVERIFY2(std::abs(value - expected[i]) <= 1e-6 * expected[i],
                     qPrintable(QString("frequency %1: %2 vs %3").arg(i).arg(value).arg(expected[i])));
            const double base = 1.0 / std::pow(config.ropeTheta, 2.0 * double(i) / 16.0);
            if (std::abs(value - base) <= 1e-6 * base)
                ++kept;
            else if (std::abs(value - base / 8.0) <= 1e-6 * base)
                ++divided;
            else
                ++interpolated;
        }
        if (type == "llama3") // with theta 1e4, Dh 16 and 32 original positions, all three bands occur
            QVERIFY(kept > 0 && divided > 0 && interpolated > 0);
        else if (type == "linear")
            QCOMPARE(divided, 8);
        else
            QCOMPARE(kept, 8);
    }

    void unknownRopeScalingIsAnError()
    {
        sp::ModelConfig config = tinyLlama();
        config.ropeScaling.type = "yarn";
        try {
            sp::model::CausalLM::createRandom(config, 1);
            QFAIL("yarn accepted");
        } catch (const sp::Error& error) {
            QVERIFY2(QString(error.what()).contains("yarn") && QString(error.what()).contains("llama3"),
                     error.what());
        }
    }

    void groupedQueryAttentionEqualsRepeatedHeads()
    {
        const sp::ModelConfig grouped = tinyLlama(); // 4 query heads, 2 key/value heads
        sp::ModelConfig repeated = grouped;
        repeated.numKeyValueHeads = grouped.numHeads;
        const auto groupedModel = randomModel(grouped, 8);
        const auto repeatedModel = randomModel(repeated, 9);
        const std::int64_t group = grouped.numHeads / grouped.numKeyValueHeads;
        at::NoGradGuard noGrad;
        std::map<std::string, at::Tensor> source;
        for (const auto& [name, tensor] : groupedModel->namedParameters())
            source[name] = tensor;
        for (auto& [name, tensor] : repeatedModel->namedParameters()) {
            at::Tensor value = source.at(name);
            if (name.find("k_proj") != std::string::npos || name.find("v_proj") != std::string::npos)
                value = value.view({grouped.numKeyValueHeads, grouped.headDim, -1})
                            .repeat_interleave(group, 0)
                            .reshape(tensor.sizes());
            tensor.copy_(value); // writes through the fused q/k/v matrix the views belong to
        }
        const at::Tensor ids = randomIds(2, 9, grouped.vocabSize, 91);
        const double difference =
            maxAbsDiff(groupedModel->forwardIds(ids).logits, repeatedModel->forwardIds(ids).logits);
        qInfo("max |GQA - repeated MHA| = %.3g", difference);
        QVERIFY2(difference <= 1e-5, qPrintable(QString::number(difference)));
    }

    void qwen2UsesQkvBiasOnly()
    {
        const auto model = randomModel(tinyQwen2());
        int qkvBiases = 0;
        at::Tensor valueBias;
        for (const auto& [name, tensor] : model->namedParameters()) {
            QVERIFY2(name.find("o_proj.bias") == std::string::npos, name.c_str());
            if (name.find("_proj.bias") != std::string::npos)
                ++qkvBiases;
            if (name == "model.layers.1.self_attn.v_proj.bias")
                valueBias = tensor;
        }
        QCOMPARE(qkvBiases, 3 * 2);
        at::NoGradGuard noGrad;
        const at::Tensor ids = randomIds(1, 6, 101, 5);
        const at::Tensor before = model->forwardIds(ids).logits;
        valueBias.add_(0.5);
        QVERIFY(maxAbsDiff(model->forwardIds(ids).logits, before) > 1e-3); // the bias is used
    }
};

QTEST_APPLESS_MAIN(TestModelReference)
#include "test_model_reference.moc"
