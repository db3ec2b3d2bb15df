// The model against ONNX Runtime, an engine this project did not write, running ONNX exports that
// others made (tests/data/onnx/<name>/onnx, with provenance in tests/data/onnx/README.md). Our
// checkpoint is rebuilt from the same graph's initialisers (tests/data/onnx_reference.py rebuild),
// so both engines hold identical weights; tests/onnx/make-references.sh runs the graph, widened to
// float32, in onnxruntime-node and writes what is compared here:
//   - the prefill's logits at every position,
//   - the same with a left-padded row (valid positions only),
//   - greedy decoding with the KV cache, one token a step: the ids and every step's logits.
//
// Tolerance: float32 on both sides, the same weights, different kernels and summation orders.
// Each logit may differ by a few ulps of the partial sums; an independent float64 numpy forward
// pass agrees with onnxruntime to 1e-7 on this model (logits of magnitude ~0.4). We allow
// 1e-4 relative to the largest logit (plus 1e-6 absolute for logits near 0), the accuracy float32
// guarantees with room for 2 layers of accumulated rounding, and require identical greedy ids.
#ifndef Q_MOC_RUN // moc needs none of these; following them into torch took it ~10 s a test
#include "model/causal_lm.h"
#include "model/generation.h"
#include "softprompt/safetensors.h"
#include "test_model_support.h"
#endif

#include <QDir>
#include <QtTest>

using namespace modeltest;
using sp::model::CausalLM;

namespace {

constexpr double kRelativeTolerance = 1e-4;
constexpr double kAbsoluteFloor = 1e-6;

at::Tensor tensorOf(const sp::SafetensorsFile& file, const std::string& name)
{
    const sp::TensorView& view = file.tensor(name);
    const at::ScalarType type = view.dtype == sp::TensorDType::I64 ? at::kLong : at::kFloat;
    return at::from_blob(const_cast<std::byte*>(view.data), view.shape, type).clone();
}

// Fails unless |ours - reference| <= 1e-4 * max|reference| + 1e-6 everywhere `valid` ([B, T]) allows.
void compareLogits(const char* what, const at::Tensor& ours, const at::Tensor& reference,
                   const at::Tensor& valid = {})
{
    QCOMPARE(ours.sizes(), reference.sizes());
    at::Tensor difference = (ours.to(at::kDouble) - reference.to(at::kDouble)).abs(); // [B, T, V]
    if (valid.defined())
        difference = difference * valid.to(at::kDouble).unsqueeze(-1);
    const double worst = difference.max().item<double>();
    const double scale = reference.abs().max().item<double>();
    const double allowed = kRelativeTolerance * scale + kAbsoluteFloor;
    qInfo("%s: max |ours - onnxruntime| = %.3g (allowed %.3g, max |logit| %.3g)", what, worst, allowed, scale);
    QVERIFY2(scale > 0.05, "the reference logits are all near zero: nothing is compared");
    QVERIFY2(worst <= allowed, qPrintable(QString("%1: %2 > %3").arg(what).arg(worst).arg(allowed)));
}

} // namespace

class TestModelOnnx : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void matchesOnnxRuntime_data()
    {
        QTest::addColumn<QString>("name");
        const QDir exports(QStringLiteral(SP_TEST_DATA_DIR "/onnx"));
        const QStringList names = exports.entryList(QDir::Dirs | QDir::NoDotAndDotDot);
        QVERIFY2(!names.isEmpty(), "tests/data/onnx holds no exports");
        for (const QString& name : names)
            QTest::newRow(qPrintable(name)) << name;
    }
    void matchesOnnxRuntime()
    {
        QFETCH(QString, name);
        const QString referencePath = QStringLiteral(SP_ONNX_REFERENCE_DIR "/") + name + "/reference.safetensors";
        if (!QFile::exists(referencePath))
            QSKIP(qPrintable("no onnxruntime output at " + referencePath +
                             ": run ctest with the onnx_make_references fixture (needs node, npm and "
                             "python3-onnx; scripts/setup.sh installs them)"));
        const auto reference = sp::SafetensorsFile::open(referencePath.toStdString());
        const auto model = CausalLM::loadFolder(SP_TEST_DATA_DIR "/onnx/" + name.toStdString() + "/hf", at::kCPU,
                                                at::kFloat);
        at::NoGradGuard noGrad;
        const at::Tensor ids = tensorOf(*reference, "input_ids"); // [B, T]
        const std::int64_t batch = ids.size(0);
        const std::int64_t length = ids.size(1);

        // 1. Prefill.
        const auto prefill = model->forwardIds(ids, nullptr, /*returnCache=*/true);
        compareLogits("prefill", prefill.logits, tensorOf(*reference, "logits"));

        // 2. A left-padded row: the reference gives positions counting valid tokens only.
        sp::model::ForwardInput padded;
        const at::Tensor mask = tensorOf(*reference, "padded_mask"); // [B, T]
        padded.inputsEmbeds = model->embed(ids);
        padded.positions = tensorOf(*reference, "padded_positions");
        padded.attentionMask = mask.to(at::kBool);
        compareLogits("left-padded prefill", model->forward(padded).logits, tensorOf(*reference, "padded_logits"),
                      mask);

        // 3. Greedy decoding with the KV cache: our ids, and each step's logits given the reference's ids.
        const at::Tensor greedy = tensorOf(*reference, "greedy_ids");      // [B, N]
        const at::Tensor stepLogits = tensorOf(*reference, "step_logits"); // [B, N, V]
        const std::int64_t steps = greedy.size(1);
        std::vector<at::Tensor> ours{prefill.logits.narrow(1, length - 1, 1)}; // [B, 1, V]
        sp::model::KVCache cache = prefill.cache;
        for (std::int64_t step = 1; step < steps; ++step) {
            const auto decoded = model->forwardIds(greedy.narrow(1, step - 1, 1), &cache, true);
            cache = decoded.cache;
            ours.push_back(decoded.logits);
        }
        QCOMPARE(cache.length(), length + steps - 1);
        compareLogits("KV-cache decode steps", at::cat(ours, 1), stepLogits);
        for (std::int64_t row = 0; row < batch; ++row) {
            const std::vector<std::int64_t> prompt(ids[row].data_ptr<std::int64_t>(),
                                                   ids[row].data_ptr<std::int64_t>() + length);
            const std::vector<std::int64_t> expected(greedy[row].data_ptr<std::int64_t>(),
                                                     greedy[row].data_ptr<std::int64_t>() + steps);
            QCOMPARE(sp::model::greedyDecode(*model, prompt, int(steps), {}), expected);
        }
    }
};

QTEST_APPLESS_MAIN(TestModelOnnx)
#include "test_model_onnx.moc"
