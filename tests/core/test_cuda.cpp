// The CUDA path: the frozen model's numerics on the GPU in float32 and bfloat16 against the CPU in
// float32 (logits, KV-cache decoding, gradients to inputs_embeds) for GPT-2 and Llama-family random
// models, and a short σ training run on the GPU whose loss falls. Skips where CUDA is unavailable.
//
// Tolerances (each assertion names its own):
//   float32  logits and cached decoding: max |Δ| ≤ 1e-4 on logits of magnitude up to ~10, i.e. a
//            relative error of ~1e-5. The CPU's own float32 error against float64 is printed next to
//            it (about 1e-6 here); a GPU that computes float32 products in TF32 (10-bit mantissa)
//            misses the bound by 10-100×, which is what it is there to catch.
//            gradients: relative L2 error ≤ 1e-4.
//   bfloat16 bf16 keeps 8 significant bits (each rounding up to 2^-9 ≈ 2e-3 relative). A bf16
//            emulation of these models on the CPU (bf16 weights and activations, float32
//            accumulation and softmax, as cuBLAS and SDPA do) gave relative L2 errors of ~1e-2,
//            mean KL ~4e-5 nats, max |Δ| ~0.045 and top-1 agreement 98-100%. Bounds: relative L2
//            error ≤ 5e-2, mean KL(P_fp32 ‖ P_bf16) ≤ 2e-3 nats, top-1 agreement ≥ 90% of positions
//            and 100% wherever the float32 top-2 margin exceeds 1.0 (20× the largest bf16 error
//            seen), gradients' cosine ≥ 0.99 and relative L2 error ≤ 0.15.
//            A wrong mask, cast, cache or dtype path gives relative errors of order 1.
#ifndef Q_MOC_RUN // moc needs none of these; following them into torch took it ~10 s a test
#include "engine/task.h"
#include "model/causal_lm.h"
#include "softprompt/model_shape.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/cuda.h>
#endif

#include <QtTest>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>

Q_DECLARE_METATYPE(sp::Architecture)

namespace {

using sp::model::CausalLM;
using sp::model::ForwardInput;

// SP_TEST_CUDA_ON_CPU=1 runs the float32 rows with the CPU standing in for the GPU: it checks
// that the test itself runs where no GPU exists (the comparisons are then trivially close).
bool cpuStandIn()
{
    const char* value = std::getenv("SP_TEST_CUDA_ON_CPU");
    return value && std::string(value) == "1";
}

at::Device targetDevice()
{
    return cpuStandIn() ? at::Device(at::kCPU) : at::Device(at::kCUDA, 0);
}

// Models large enough that cuBLAS and the attention kernels take their real paths, small enough
// that the CPU reference takes milliseconds.
sp::ModelConfig numericsConfig(sp::Architecture architecture)
{
    const bool llama = architecture == sp::Architecture::Llama;
    // ModelShape: vocabulary, hidden, intermediate, layers, heads, key/value heads (grouped-query
    // attention on the Llama side), head dim, positions.
    sp::ModelConfig config =
        sp::shapedModelConfig(llama ? "llama" : "gpt2", {512, 128, llama ? 344 : 512, 3, 4, llama ? 2 : 4, 32, 128});
    config.tieWordEmbeddings = !llama;
    config.eosTokenIds = {1};
    return config;
}

// Weights large enough for logits of order 1-10 (peaked distributions, clear top-1 choices), with
// random norms and biases so that every parameter path matters.
std::shared_ptr<CausalLM> numericsModel(sp::Architecture architecture, at::Device device,
                                        at::ScalarType dtype)
{
    sp::model::RandomInit init;
    init.weightStd = 0.08;
    init.randomizeNormsAndBiases = true;
    return CausalLM::createRandom(numericsConfig(architecture), 11, device, dtype, init);
}

at::Tensor seededIds(std::int64_t batch, std::int64_t length, std::int64_t vocab, std::uint64_t seed)
{
    at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(seed);
    return at::randint(vocab, {batch, length}, generator, at::kLong); // [B, T]
}

double maxAbsDiff(const at::Tensor& a, const at::Tensor& b)
{
    return (a.to(at::kCPU, at::kDouble) - b.to(at::kCPU, at::kDouble)).abs().max().item<double>();
}

double maxAbs(const at::Tensor& value)
{
    return value.to(at::kCPU, at::kDouble).abs().max().item<double>();
}

double relativeL2(const at::Tensor& value, const at::Tensor& reference)
{
    const at::Tensor v = value.to(at::kCPU, at::kDouble);     // [...]
    const at::Tensor r = reference.to(at::kCPU, at::kDouble); // [...]
    return ((v - r).norm() / r.norm().clamp_min(1e-30)).item<double>();
}

double cosine(const at::Tensor& a, const at::Tensor& b)
{
    const at::Tensor x = a.to(at::kCPU, at::kDouble).flatten(); // [n]
    const at::Tensor y = b.to(at::kCPU, at::kDouble).flatten(); // [n]
    return (x.dot(y) / (x.norm() * y.norm()).clamp_min(1e-30)).item<double>();
}

// Agreement of two [..., V] logit tensors as the bf16 bounds read it.
struct Agreement {
    double meanKl = 0.0;         // mean over positions of KL(P_reference ‖ P_value), nats
    double top1 = 0.0;           // fraction of positions with the same argmax
    double top1WideMargin = 1.0; // the same over positions whose reference top-2 margin > 1.0
    std::int64_t wideMarginPositions = 0;
};

Agreement agreement(const at::Tensor& value, const at::Tensor& reference)
{
    const std::int64_t vocab = reference.size(-1);
    const at::Tensor v = value.to(at::kCPU, at::kDouble).reshape({-1, vocab});     // [N, V]
    const at::Tensor r = reference.to(at::kCPU, at::kDouble).reshape({-1, vocab}); // [N, V]
    const at::Tensor logP = at::log_softmax(r, -1);                                // [N, V]
    const at::Tensor logQ = at::log_softmax(v, -1);                                // [N, V]
    Agreement result;
    result.meanKl = (logP.exp() * (logP - logQ)).sum(-1).mean().item<double>();
    const at::Tensor same = v.argmax(-1).eq(r.argmax(-1)); // [N]
    result.top1 = same.to(at::kDouble).mean().item<double>();
    const at::Tensor topTwo = std::get<0>(r.topk(2, -1));                        // [N, 2]
    const at::Tensor wide = (topTwo.select(1, 0) - topTwo.select(1, 1)).gt(1.0); // [N]
    result.wideMarginPositions = wide.sum().item<std::int64_t>();
    if (result.wideMarginPositions > 0)
        result.top1WideMargin = same.masked_select(wide).to(at::kDouble).mean().item<double>();
    return result;
}

// Asserts the tolerance of the row's dtype on `value` against the float32 CPU `reference`.
void checkLogits(const at::Tensor& value, const at::Tensor& reference, at::ScalarType dtype, const char* what)
{
    QVERIFY2(at::isfinite(value.to(at::kCPU)).all().item<bool>(),
             qPrintable(QString("%1: non-finite").arg(what)));
    const double scale = maxAbs(reference);
    QVERIFY2(scale > 0.5, "logits too small for the comparison to mean anything");
    if (dtype == at::kFloat) {
        const double error = maxAbsDiff(value, reference);
        qInfo("%s: float32 max |Δ| %.3g (logits up to %.3g)", what, error, scale);
        QVERIFY2(error <= 1e-4,
                 qPrintable(QString("%1: float32 max |Δ| %2 > 1e-4 (TF32 enabled?)").arg(what).arg(error)));
        return;
    }
    const double relative = relativeL2(value, reference);
    const Agreement agree = agreement(value, reference);
    qInfo("%s: bf16 relative L2 %.3g, mean KL %.3g nats, top-1 %.3f, top-1 at margin > 1: %.3f (%lld "
          "positions)",
          what, relative, agree.meanKl, agree.top1, agree.top1WideMargin,
          static_cast<long long>(agree.wideMarginPositions));
    QVERIFY2(relative <= 5e-2,
             qPrintable(QString("%1: bf16 relative L2 error %2 > 5e-2").arg(what).arg(relative)));
    QVERIFY2(agree.meanKl <= 2e-3,
             qPrintable(QString("%1: bf16 mean KL %2 > 2e-3").arg(what).arg(agree.meanKl)));
    QVERIFY2(agree.top1 >= 0.9,
             qPrintable(QString("%1: bf16 top-1 agreement %2 < 0.9").arg(what).arg(agree.top1)));
    QVERIFY2(agree.top1WideMargin == 1.0,
             qPrintable(QString("%1: bf16 top-1 disagrees where the margin exceeds 1.0 (%2)")
                            .arg(what)
                            .arg(agree.top1WideMargin)));
}

void addRows()
{
    QTest::addColumn<sp::Architecture>("architecture");
    QTest::addColumn<int>("dtype"); // at::ScalarType
    QTest::newRow("gpt2 float32") << sp::Architecture::Gpt2 << int(at::kFloat);
    QTest::newRow("gpt2 bfloat16") << sp::Architecture::Gpt2 << int(at::kBFloat16);
    QTest::newRow("llama float32") << sp::Architecture::Llama << int(at::kFloat);
    QTest::newRow("llama bfloat16") << sp::Architecture::Llama << int(at::kBFloat16);
}

// bf16 rows need the GPU: the model refuses half precision on the CPU.
#define SP_SKIP_BF16_ON_CPU_STAND_IN(dtype)                                                                  \
    if (cpuStandIn() && (dtype) != at::kFloat)                                                               \
    QSKIP("bfloat16 rows need the GPU (SP_TEST_CUDA_ON_CPU=1 runs only the float32 rows)")

// ---- σ training on the GPU -------------------------------------------------------------------------
constexpr std::int32_t kBos = 256;
constexpr std::int32_t kEos = 257;

// A byte-level engine model (ids 0..255 bytes, 256 BOS, 257 EOS) on `device`, as the engine's CPU
// training tests build it.
sp::engine::EngineModel byteModel(at::Device device, at::ScalarType dtype)
{
    // The shape of test_engine_support.h's tinyConfig(Llama).
    sp::ModelConfig config = sp::shapedModelConfig("llama", {258, 32, 64, 2, 4, 2, 8, 160});
    config.tieWordEmbeddings = false;
    config.bosTokenId = kBos;
    config.eosTokenIds = {kEos};
    sp::model::RandomInit init;
    init.weightStd = 0.25; // context-dependent predictions: compressing the context is a real task
    sp::engine::EngineModel model;
    model.lm = CausalLM::createRandom(config, 7, device, dtype, init);
    sp::engine::useByteLevelCodec(model);
    model.prefixIds = {kBos};
    model.stopIds = {kEos};
    model.identity = std::string("test-cuda-byte-llama|") + (device.is_cuda() ? "cuda" : "cpu") + "|" +
                     (dtype == at::kFloat ? "float32" : "bfloat16");
    return model;
}

sp::CompressionTask byteTask(at::Device device, at::ScalarType dtype)
{
    static const char* const texts[] = {
        "What is zorp?", "Say hi",     "Name a colour", "2+2=",   "Who are you?", "Why?",
        "Spell cat",     "Count to 3", "zorp zorp",     "Rules?", "End it",       "Begin"};
    std::vector<sp::Query> queries;
    for (const char* text : texts)
        queries.push_back({text, "", false});
    return sp::engine::taskFromImpl(sp::engine::makeTaskImpl(
        byteModel(device, dtype),
        "Rules: answer in capitals, start with OK, end with a dot. Glossary: zorp = blue.", queries));
}

sp::TrainConfig shortTraining(const std::string& device, const std::string& dtype)
{
    sp::TrainConfig config;
    config.k = 4;
    config.steps = 80;
    config.learningRate = 0.05;
    config.warmupSteps = 5;
    config.batchSize = 8;
    config.evalInterval = 40;
    config.checkpointInterval = 0;
    config.seed = 3;
    config.device = device;
    config.dtype = dtype;
    return config;
}

sp::TrainResult train(sp::CompressionTask& task, const sp::TrainConfig& config)
{
    sp::TrainControl control;
    return task.train(config, sp::TrainCallbacks{}, control);
}

} // namespace

class TestCuda : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase()
    {
        if (cpuStandIn()) {
            qInfo("SP_TEST_CUDA_ON_CPU=1: the CPU stands in for the GPU (float32 rows only)");
            return;
        }
        if (!torch::cuda::is_available())
            QSKIP(qPrintable(QString("CUDA is not available (LibTorch %1 without CUDA, or no GPU "
                                     "driver/device): the GPU numerics and training tests are skipped")
                                 .arg(TORCH_VERSION)));
        qInfo("LibTorch %s, %d CUDA device(s)", TORCH_VERSION, int(torch::cuda::device_count()));
    }

    void logitsMatchCpu_data() { addRows(); }
    void logitsMatchCpu()
    {
        QFETCH(sp::Architecture, architecture);
        QFETCH(int, dtype);
        const auto type = at::ScalarType(dtype);
        SP_SKIP_BF16_ON_CPU_STAND_IN(type);
        at::NoGradGuard noGrad;
        const auto reference = numericsModel(architecture, at::kCPU, at::kFloat);
        const auto precise = numericsModel(architecture, at::kCPU, at::kDouble);
        const auto device = numericsModel(architecture, targetDevice(), type);
        const at::Tensor ids = seededIds(3, 40, 512, 5);               // [3, 40]
        const at::Tensor expected = reference->forwardIds(ids).logits; // [3, 40, V] CPU fp32
        const at::Tensor exact = precise->forwardIds(ids).logits;      // [3, 40, V] CPU fp64
        const at::Tensor actual = device->forwardIds(ids).logits;      // [3, 40, V] on the device
        QCOMPARE(actual.device().type(), targetDevice().type());
        QCOMPARE(actual.scalar_type(), at::kFloat); // logits are float32 for bf16 models too
        qInfo("CPU float32 against float64: max |Δ| %.3g", maxAbsDiff(expected, exact));
        checkLogits(actual, expected, type, "logits");
    }

    // Prefill with the cache, then decode four tokens one at a time (teacher-forced, so both sides
    // see the same ids): each step's logits against the CPU's, and against the device's own full
    // forward over the whole sequence.
    void kvCacheDecodeMatchesCpu_data() { addRows(); }
    void kvCacheDecodeMatchesCpu()
    {
        QFETCH(sp::Architecture, architecture);
        QFETCH(int, dtype);
        const auto type = at::ScalarType(dtype);
        SP_SKIP_BF16_ON_CPU_STAND_IN(type);
        at::NoGradGuard noGrad;
        const auto reference = numericsModel(architecture, at::kCPU, at::kFloat);
        const auto device = numericsModel(architecture, targetDevice(), type);
        constexpr std::int64_t prompt = 20, steps = 4;
        const at::Tensor ids = seededIds(2, prompt + steps, 512, 9); // [2, 24]

        auto cpuState = reference->forwardIds(ids.narrow(1, 0, prompt), nullptr, true);
        auto deviceState = device->forwardIds(ids.narrow(1, 0, prompt), nullptr, true);
        QCOMPARE(deviceState.cache.length(), prompt);
        QCOMPARE(deviceState.cache.keys.front().device().type(), targetDevice().type());
        std::vector<at::Tensor> cpuSteps, deviceSteps;
        for (std::int64_t step = 0; step < steps; ++step) {
            const at::Tensor next = ids.narrow(1, prompt + step, 1); // [2, 1]
            auto cpuNext = reference->forwardIds(next, &cpuState.cache, true);
            auto deviceNext = device->forwardIds(next, &deviceState.cache, true);
            cpuSteps.push_back(cpuNext.logits);
            deviceSteps.push_back(deviceNext.logits);
            cpuState = std::move(cpuNext);
            deviceState = std::move(deviceNext);
        }
        QCOMPARE(deviceState.cache.length(), prompt + steps);
        const at::Tensor cpuDecoded = at::cat(cpuSteps, 1);       // [2, 4, V]
        const at::Tensor deviceDecoded = at::cat(deviceSteps, 1); // [2, 4, V]
        checkLogits(deviceDecoded, cpuDecoded, type, "cached decode vs CPU");
        const at::Tensor deviceFull = device->forwardIds(ids).logits.narrow(1, prompt, steps); // [2, 4, V]
        checkLogits(deviceDecoded, deviceFull, type, "cached decode vs the device's full forward");
    }

    // d/d inputs_embeds of Σ w ⊙ log_softmax(logits) with fixed random w: the gradient σ training uses.
    void inputGradientsMatchCpu_data() { addRows(); }
    void inputGradientsMatchCpu()
    {
        QFETCH(sp::Architecture, architecture);
        QFETCH(int, dtype);
        const auto type = at::ScalarType(dtype);
        SP_SKIP_BF16_ON_CPU_STAND_IN(type);
        const auto reference = numericsModel(architecture, at::kCPU, at::kFloat);
        const auto device = numericsModel(architecture, targetDevice(), type);
        const at::Tensor ids = seededIds(2, 24, 512, 13); // [2, 24]
        at::Tensor embeds;                                // [2, 24, d] float32
        {
            at::NoGradGuard noGrad;
            embeds = reference->embed(ids).clone();
        }
        at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(17);
        const at::Tensor weights = at::randn({2, 24, 512}, generator, at::kFloat); // [2, 24, V]

        const auto gradient = [&](const CausalLM& model) {
            const at::Tensor leaf = embeds.to(model.device()).requires_grad_(true); // [2, 24, d] fp32
            ForwardInput input;
            input.inputsEmbeds = leaf; // cast to the model's dtype inside: gradients return in fp32
            input.positions = at::arange(24, at::kLong).unsqueeze(0).expand({2, 24}).to(model.device());
            const at::Tensor logits = model.forward(input).logits; // [2, 24, V]
            const at::Tensor loss = (at::log_softmax(logits, -1) * weights.to(model.device())).sum(); // []
            return torch::autograd::grad({loss}, {leaf})[0].to(at::kCPU); // [2, 24, d]
        };
        const at::Tensor expected = gradient(*reference);
        const at::Tensor actual = gradient(*device);
        QVERIFY2(at::isfinite(actual).all().item<bool>(), "non-finite gradient on the device");
        QCOMPARE(actual.scalar_type(), at::kFloat);
        QVERIFY2(maxAbs(expected) > 1e-3, "gradients too small for the comparison to mean anything");
        const double relative = relativeL2(actual, expected);
        const double similarity = cosine(actual, expected);
        qInfo("input gradients: relative L2 %.3g, cosine %.6f", relative, similarity);
        if (type == at::kFloat) {
            QVERIFY2(relative <= 1e-4,
                     qPrintable(QString("float32 gradient relative error %1 > 1e-4").arg(relative)));
        } else {
            QVERIFY2(similarity >= 0.99,
                     qPrintable(QString("bf16 gradient cosine %1 < 0.99").arg(similarity)));
            QVERIFY2(relative <= 0.15,
                     qPrintable(QString("bf16 gradient relative error %1 > 0.15").arg(relative)));
        }
    }

    // A short σ run on the device: the same starting s as on the CPU (teacher and student forward
    // agree), then s falls to at most half of it, σ stays finite, and the evaluation (greedy decoding
    // with the KV cache) runs on the device.
    void sigmaTrainingLossFalls_data()
    {
        QTest::addColumn<int>("dtype");
        QTest::newRow("float32") << int(at::kFloat);
        QTest::newRow("bfloat16") << int(at::kBFloat16);
    }
    void sigmaTrainingLossFalls()
    {
        QFETCH(int, dtype);
        const auto type = at::ScalarType(dtype);
        SP_SKIP_BF16_ON_CPU_STAND_IN(type);
        const at::Device device = targetDevice();
        const std::string dtypeName = type == at::kFloat ? "float32" : "bfloat16";
        sp::CompressionTask onCpu = byteTask(at::kCPU, at::kFloat);
        sp::CompressionTask onDevice = byteTask(device, type);
        const sp::TrainConfig cpuConfig = shortTraining("cpu", "float32");
        const sp::TrainConfig deviceConfig = shortTraining(device.is_cuda() ? "cuda" : "cpu", dtypeName);

        const sp::TrainResult cpu = train(onCpu, cpuConfig);
        const sp::TrainResult result = train(onDevice, deviceConfig);
        qInfo("σ training (%s): s %.4f → %.4f in %d steps (CPU float32: %.4f → %.4f)", dtypeName.c_str(),
              result.initialTrainS, result.finalTrainS, result.stepsCompleted, cpu.initialTrainS,
              cpu.finalTrainS);
        QCOMPARE(result.status, sp::RunStatus::Finished);
        QCOMPARE(result.stepsCompleted, deviceConfig.steps);
        QVERIFY(std::all_of(result.sigma.values.begin(), result.sigma.values.end(),
                            [](float v) { return std::isfinite(v); }));
        const double startTolerance = type == at::kFloat ? 1e-4 : 0.15;
        const double startGap = std::abs(result.initialTrainS - cpu.initialTrainS) / cpu.initialTrainS;
        QVERIFY2(startGap <= startTolerance,
                 qPrintable(QString("initial s %1 on the device vs %2 on the CPU (relative gap %3 > %4)")
                                .arg(result.initialTrainS)
                                .arg(cpu.initialTrainS)
                                .arg(startGap)
                                .arg(startTolerance)));
        QVERIFY2(result.finalTrainS <= 0.5 * result.initialTrainS,
                 qPrintable(
                     QString("s fell only from %1 to %2").arg(result.initialTrainS).arg(result.finalTrainS)));

        const sp::Evaluation evaluation = onDevice.evaluate(
            result.sigma, deviceConfig, {sp::Condition::SoftPrompt, sp::Condition::NoContext});
        QCOMPARE(int(evaluation.queries.size()), 12);
        for (const sp::QueryEvaluation& query : evaluation.queries)
            for (const sp::ConditionOutcome& outcome : query.outcomes)
                QVERIFY2(
                    std::isfinite(outcome.kl) && !outcome.predictionIds.empty(),
                    qPrintable(
                        QString("query \"%1\": non-finite KL or no prediction").arg(query.query.c_str())));
    }
};

QTEST_GUILESS_MAIN(TestCuda)
#include "test_cuda.moc"
