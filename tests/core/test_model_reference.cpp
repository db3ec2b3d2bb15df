// The model against an independent, deliberately naive re-derivation of the GPT-2, Llama, Qwen3,
// Phi-3 and Gemma 2/3 forward passes in float64 (one head at a time, explicit repeat_kv, explicit
// rotate_half, formulas written from the papers and transformers' documented conventions), and RoPE
// scaling against closed forms. This is an in-house check: the outside references are the ONNX
// Runtime test (test_model_onnx) and transformers' fixtures (test_model_io's hfTinyGolden).
#ifndef Q_MOC_RUN // moc needs none of these; following them into torch took it ~10 s a test
#include "model/causal_lm.h"
#include "model/layers.h"
#include "softprompt/error.h"
#include "test_model_support.h"
#endif

#include <QtTest>

#include <algorithm>
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

struct ReferenceRope {
    std::vector<double> frequencies; // [R/2]
    double attentionScaling = 1.0;
};

// RoPE inverse frequencies in double from the closed forms (Su et al.; Meta's llama3 scaling; YaRN,
// Peng et al. 2023; LongRoPE, Ding et al. 2024) for `sequenceLength` tokens.
ReferenceRope referenceRope(const sp::ModelConfig& config, double theta, const sp::RopeScaling& s,
                            std::int64_t sequenceLength)
{
    ReferenceRope rope;
    const std::int64_t rotary = std::int64_t(double(config.headDim) * config.partialRotaryFactor);
    const double dim = double(rotary);
    // YaRN's ramp bounds: the dimensions whose wavelength fits beta_fast / beta_slow turns into the window.
    const double original = double(s.originalMaxPositionEmbeddings > 0 ? s.originalMaxPositionEmbeddings
                                                                       : config.maxPositionEmbeddings);
    const double low = std::max(0.0, std::floor(dim * std::log(original / (s.betaFast * 2 * M_PI)) / (2 * std::log(theta))));
    double high = std::min(dim - 1, std::ceil(dim * std::log(original / (s.betaSlow * 2 * M_PI)) / (2 * std::log(theta))));
    if (high == low)
        high += 0.001;
    for (std::int64_t i = 0; i < rotary / 2; ++i) {
        const double base = 1.0 / std::pow(theta, 2.0 * double(i) / dim);
        if (s.type == "linear") {
            rope.frequencies.push_back(base / s.factor);
        } else if (s.type == "llama3") {
            const double wavelength = 2 * M_PI / base;
            const double window = double(s.originalMaxPositionEmbeddings);
            if (wavelength < window / s.highFreqFactor) {
                rope.frequencies.push_back(base);
            } else if (wavelength > window / s.lowFreqFactor) {
                rope.frequencies.push_back(base / s.factor);
            } else {
                const double smooth = (window / wavelength - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
                rope.frequencies.push_back((1 - smooth) * base / s.factor + smooth * base);
            }
        } else if (s.type == "yarn") {
            // Dimensions below `low` keep their frequency, above `high` are interpolated by the factor.
            const double interpolated = std::clamp((double(i) - low) / (high - low), 0.0, 1.0);
            rope.frequencies.push_back(base / s.factor * interpolated + base * (1 - interpolated));
            rope.attentionScaling = 0.1 * std::log(s.factor) + 1.0;
        } else if (s.type == "longrope") {
            const bool beyond = double(sequenceLength) > double(s.originalMaxPositionEmbeddings);
            const double divisor = (beyond ? s.longFactor : s.shortFactor)[std::size_t(i)];
            rope.frequencies.push_back(base / divisor);
            const double scale = double(config.maxPositionEmbeddings) / double(s.originalMaxPositionEmbeddings);
            rope.attentionScaling =
                std::sqrt(1 + std::log(scale) / std::log(double(s.originalMaxPositionEmbeddings)));
        } else {
            rope.frequencies.push_back(base);
        }
    }
    return rope;
}

std::vector<double> referenceFrequencies(const sp::ModelConfig& config)
{
    return referenceRope(config, config.ropeTheta, config.ropeScaling, config.maxPositionEmbeddings).frequencies;
}

at::Tensor softmaxRows(const at::Tensor& scores)
{
    const at::Tensor shifted = scores - std::get<0>(scores.max(-1, true));
    const at::Tensor exponentials = shifted.exp();
    return exponentials / exponentials.sum(-1, true);
}

// Causal attention of one head: q [T, Dh], k and v [T, Dh] -> [T, Dh]. `scale` 0 = 1/sqrt(Dh);
// `softcap` > 0 bounds the scores by softcap * tanh(score / softcap); `window` > 0 lets query t see
// keys t - window + 1 .. t only.
at::Tensor oneHead(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale = 0,
                   double softcap = 0, std::int64_t window = 0)
{
    const std::int64_t length = q.size(0);
    at::Tensor scores = q.matmul(k.t()) * (scale > 0 ? scale : 1.0 / std::sqrt(double(q.size(1)))); // [T, T]
    if (softcap > 0)
        scores = (scores / softcap).tanh() * softcap;
    at::Tensor blocked = at::ones({length, length}, at::kBool).triu(1);
    if (window > 0)
        blocked = blocked | at::ones({length, length}, at::kBool).tril(-window);
    scores = scores.masked_fill(blocked, -1e300);
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

// Rotates pairs (i, i + R/2) of each row of `x` [T, Dh] by angle position * frequency_i, R =
// 2 * frequencies (dimensions past R stay), cos and sin multiplied by `scaling`.
at::Tensor rotateHalfPairs(const at::Tensor& x, const std::vector<double>& frequencies, double scaling = 1.0)
{
    at::Tensor out = x.clone();
    const std::int64_t half = std::int64_t(frequencies.size());
    for (std::int64_t t = 0; t < x.size(0); ++t)
        for (std::int64_t i = 0; i < half; ++i) {
            // transformers computes the angle in float32; so does this reference.
            const float angle = float(t) * float(frequencies[std::size_t(i)]);
            const double cosine = std::cos(double(angle)) * scaling;
            const double sine = std::sin(double(angle)) * scaling;
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
    const ReferenceRope rope = referenceRope(c, c.ropeTheta, c.ropeScaling, std::int64_t(ids.size()));
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
            heads.push_back(oneHead(rotateHalfPairs(q.narrow(1, head * c.headDim, c.headDim), rope.frequencies,
                                                    rope.attentionScaling),
                                    rotateHalfPairs(k.narrow(1, kvHead * c.headDim, c.headDim), rope.frequencies,
                                                    rope.attentionScaling),
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

// The same as referenceLlama, written out for every family after Llama: Qwen3's q/k norms, Phi-3's
// fused matrices and partial rotation, Gemma's (1 + w) norm sandwiches, √d embedding scale,
// query_pre_attn_scalar, soft caps, sliding windows and Gemma 3's local RoPE.
at::Tensor referenceDecoder(const CausalLM& model, const std::vector<std::int64_t>& ids)
{
    const sp::ModelConfig& c = model.config();
    Weights w = weightsOf(model);
    const bool gemma = c.architecture == sp::Architecture::Gemma2 || c.architecture == sp::Architecture::Gemma3;
    const bool phi3 = c.architecture == sp::Architecture::Phi3;
    const bool headNorms = c.architecture == sp::Architecture::Qwen3 || c.architecture == sp::Architecture::Gemma3;
    const std::int64_t length = std::int64_t(ids.size());
    auto norm = [&](const at::Tensor& x, const at::Tensor& weight) {
        return gemma ? x / (x.pow(2).mean(-1, true) + c.normEpsilon).sqrt() * (1 + weight)
                     : rmsNormReference(x, weight, c.normEpsilon);
    };
    auto activation = [&](const at::Tensor& u) {
        return gemma ? 0.5 * u * (1 + (std::sqrt(2 / M_PI) * (u + 0.044715 * u.pow(3))).tanh()) : u / (1 + (-u).exp());
    };
    auto linear = [&w](const std::string& name, const at::Tensor& input) {
        at::Tensor out = input.matmul(w[name + ".weight"].t());
        if (w.count(name + ".bias"))
            out = out + w[name + ".bias"];
        return out;
    };
    at::Tensor x = w["model.embed_tokens.weight"].index_select(0, at::tensor(ids, at::kLong)); // [T, d]
    if (gemma)
        x = x * double(float(std::sqrt(double(c.hiddenSize))));
    const ReferenceRope global = referenceRope(c, c.ropeTheta, c.ropeScaling, length);
    const ReferenceRope local = referenceRope(c, c.ropeLocalTheta > 0 ? c.ropeLocalTheta : c.ropeTheta,
                                              c.architecture == sp::Architecture::Gemma3 ? sp::RopeScaling{}
                                                                                         : c.ropeScaling,
                                              length);
    const std::int64_t group = c.numHeads / c.numKeyValueHeads;
    const std::int64_t queryWidth = c.numHeads * c.headDim;
    const std::int64_t kvWidth = c.numKeyValueHeads * c.headDim;
    for (std::int64_t l = 0; l < c.numLayers; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        const bool sliding = c.slidingWindow && (c.layerTypes.empty() || c.layerTypes[std::size_t(l)] == "sliding_attention");
        const std::int64_t window = sliding ? *c.slidingWindow : 0;
        const ReferenceRope& rope = (c.architecture == sp::Architecture::Gemma3 && sliding) ? local : global;
        const at::Tensor h = norm(x, w[p + "input_layernorm.weight"]);
        at::Tensor q, k, v;
        if (phi3) {
            const at::Tensor qkv = linear(p + "self_attn.qkv_proj", h);
            q = qkv.narrow(1, 0, queryWidth);
            k = qkv.narrow(1, queryWidth, kvWidth);
            v = qkv.narrow(1, queryWidth + kvWidth, kvWidth);
        } else {
            q = linear(p + "self_attn.q_proj", h);
            k = linear(p + "self_attn.k_proj", h);
            v = linear(p + "self_attn.v_proj", h);
        }
        auto headOf = [&](const at::Tensor& all, std::int64_t head, const char* normName) {
            at::Tensor part = all.narrow(1, head * c.headDim, c.headDim);
            if (headNorms && normName)
                part = gemma ? part / (part.pow(2).mean(-1, true) + c.normEpsilon).sqrt() * (1 + w[p + normName])
                             : rmsNormReference(part, w[p + normName], c.normEpsilon);
            return part;
        };
        const double scale = gemma ? 1.0 / std::sqrt(c.queryPreAttnScalar) : 0.0;
        std::vector<at::Tensor> heads;
        for (std::int64_t head = 0; head < c.numHeads; ++head) {
            const std::int64_t kvHead = head / group;
            heads.push_back(oneHead(
                rotateHalfPairs(headOf(q, head, "self_attn.q_norm.weight"), rope.frequencies, rope.attentionScaling),
                rotateHalfPairs(headOf(k, kvHead, "self_attn.k_norm.weight"), rope.frequencies, rope.attentionScaling),
                headOf(v, kvHead, nullptr), scale, gemma ? c.attnLogitSoftcapping : 0.0, window));
        }
        at::Tensor attended = linear(p + "self_attn.o_proj", at::cat(heads, 1));
        if (gemma)
            attended = norm(attended, w[p + "post_attention_layernorm.weight"]);
        x = x + attended;
        const at::Tensor h2 = norm(x, w[gemma ? p + "pre_feedforward_layernorm.weight" : p + "post_attention_layernorm.weight"]);
        at::Tensor gate, up;
        if (phi3) {
            const at::Tensor both = linear(p + "mlp.gate_up_proj", h2);
            gate = both.narrow(1, 0, c.intermediateSize);
            up = both.narrow(1, c.intermediateSize, c.intermediateSize);
        } else {
            gate = linear(p + "mlp.gate_proj", h2);
            up = linear(p + "mlp.up_proj", h2);
        }
        at::Tensor mlp = linear(p + "mlp.down_proj", activation(gate) * up);
        if (gemma)
            mlp = norm(mlp, w[p + "post_feedforward_layernorm.weight"]);
        x = x + mlp;
    }
    x = norm(x, w["model.norm.weight"]);
    const at::Tensor head = c.tieWordEmbeddings ? w["model.embed_tokens.weight"] : w["lm_head.weight"];
    at::Tensor logits = x.matmul(head.t());
    if (gemma && c.finalLogitSoftcapping > 0)
        logits = (logits / c.finalLogitSoftcapping).tanh() * c.finalLogitSoftcapping;
    return logits;
}

// Variants of the tiny configs whose special paths short sequences would not reach.
sp::ModelConfig variantNamed(const std::string& name)
{
    if (name == "gemma2 window 4" || name == "gemma3 window 4") {
        sp::ModelConfig config = configNamed(name.substr(0, 6));
        config.slidingWindow = 4;
        return config;
    }
    if (name == "phi3 window 5") {
        sp::ModelConfig config = tinyPhi3();
        config.slidingWindow = 5;
        return config;
    }
    return configNamed(name);
}

} // namespace

class TestModelReference : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void forwardMatchesNaiveReference_data()
    {
        QTest::addColumn<QString>("architecture");
        QTest::addColumn<int>("length");
        for (const char* name : allArchitectures)
            QTest::newRow(name) << QString::fromLatin1(name) << 11;
        // Sliding windows shorter than the sequence, and Phi-3's longrope past its original window (16).
        for (const char* name : {"gemma2 window 4", "gemma3 window 4", "phi3 window 5"})
            QTest::newRow(name) << QString::fromLatin1(name) << 11;
        QTest::newRow("phi3 long factors") << "phi3" << 20;
    }
    void forwardMatchesNaiveReference()
    {
        QFETCH(QString, architecture);
        QFETCH(int, length);
        const auto model = randomModel(variantNamed(architecture.toStdString()), 17);
        std::vector<std::int64_t> ids{5, 17, 3, 88, 41, 9, 60, 2, 33, 71, 12, 45, 8, 19, 77, 31, 64, 23, 90, 50};
        ids.resize(std::size_t(length));
        at::NoGradGuard noGrad;
        const at::Tensor logits =
            model->forwardIds(at::tensor(ids, at::kLong).unsqueeze(0)).logits[0]; // [T, V]
        const sp::Architecture family = model->config().architecture;
        const at::Tensor reference = family == sp::Architecture::Gpt2    ? referenceGpt2(*model, ids)
                                     : family == sp::Architecture::Llama ? referenceLlama(*model, ids)
                                                                         : referenceDecoder(*model, ids); // [T, V]
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
        QTest::newRow("dynamic") << "dynamic";
        QTest::newRow("yarn") << "yarn";
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
        const auto frequencies = sp::model::ropeFrequencies(sp::model::ropeParameters(config), 16);
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
        if (type == "llama3" || type == "yarn") { // theta 1e4, Dh 16, 32 original positions: all bands occur
            QVERIFY(kept > 0 && divided > 0 && interpolated > 0);
            const double scaling = type == "yarn" ? 0.1 * std::log(8.0) + 1.0 : 1.0;
            QVERIFY(std::abs(frequencies.attentionScaling - scaling) <= 1e-12);
        } else if (type == "dynamic") { // within the window NTK scaling leaves the base unchanged
            QCOMPARE(kept, 8);
        }
        else if (type == "linear")
            QCOMPARE(divided, 8);
        else if (type == "default")
            QCOMPARE(kept, 8);
    }

    // LongRoPE: short factors up to the original window, long ones past it, both scaled by
    // sqrt(1 + ln(s) / ln(original)) with s = max_position_embeddings / original.
    void longropeFrequenciesSwitchPastTheOriginalWindow()
    {
        const sp::ModelConfig config = tinyPhi3(); // rotary 6 of 8, original 16, window 128
        const auto parameters = sp::model::ropeParameters(config);
        QCOMPARE(parameters.rotaryDims, std::int64_t(6));
        for (const std::int64_t length : {std::int64_t(16), std::int64_t(17)}) {
            const auto computed = sp::model::ropeFrequencies(parameters, length);
            const ReferenceRope expected = referenceRope(config, config.ropeTheta, config.ropeScaling, length);
            QCOMPARE(computed.inverse.size(0), std::int64_t(3));
            for (std::int64_t i = 0; i < 3; ++i)
                QVERIFY2(std::abs(computed.inverse[i].item<double>() - expected.frequencies[std::size_t(i)]) <=
                             1e-6 * expected.frequencies[std::size_t(i)],
                         qPrintable(QString("length %1, frequency %2").arg(length).arg(i)));
            QVERIFY(std::abs(computed.attentionScaling - std::sqrt(1 + std::log(8.0) / std::log(16.0))) <= 1e-12);
        }
        // The short and long sets differ where the factors do.
        QVERIFY(sp::model::ropeFrequencies(parameters, 17).inverse[2].item<double>() <
                sp::model::ropeFrequencies(parameters, 16).inverse[2].item<double>() / 4);
    }

    void unknownRopeScalingIsAnError()
    {
        sp::ModelConfig config = tinyLlama();
        config.ropeScaling.type = "su";
        try {
            sp::model::CausalLM::createRandom(config, 1);
            QFAIL("su accepted");
        } catch (const sp::Error& error) {
            QVERIFY2(QString(error.what()).contains("\"su\"") && QString(error.what()).contains("longrope"),
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
