// Memory for large models on the CPU: half-precision weights (kept in half precision, computed
// natively or converted per layer), the shared read-only context KV cache, the teacher's chunked
// prefill scores, weights that alias the memory-mapped safetensors file, and the estimate that
// refuses a model which does not fit.
#ifndef Q_MOC_RUN // moc needs none of these; following them into torch took it ~10 s a test
#include "engine/forward.h"
#include "engine/teacher.h"
#include "model/causal_lm.h"
#include "model/layers.h"
#include "softprompt/error.h"
#include "softprompt/model_handle.h"
#include "softprompt/safetensors.h"
#include "test_engine_support.h"
#include "test_model_support.h"
#endif

#include <QDir>
#include <QTemporaryDir>
#include <QtTest>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>

using namespace modeltest;
using sp::model::CausalLM;
using sp::model::HalfCompute;
using sp::model::KVCache;

namespace {

// A float32 model with `half`'s weights exactly: matrices rounded to `type` and back, as the
// half-precision model keeps them (its vectors stay float32 when it computes in float32).
std::shared_ptr<CausalLM> roundedReference(const sp::ModelConfig& config, std::uint64_t seed, at::ScalarType type,
                                           bool roundVectors)
{
    auto reference = randomModel(config, seed, at::kFloat);
    at::NoGradGuard noGrad;
    for (const auto& [name, tensor] : reference->namedParameters())
        if (tensor.dim() >= 2 || roundVectors)
            tensor.copy_(tensor.to(type).to(at::kFloat));
    return reference;
}

std::shared_ptr<CausalLM> randomHalfModel(const sp::ModelConfig& config, std::uint64_t seed, at::ScalarType type,
                                          HalfCompute compute)
{
    sp::model::RandomInit init;
    init.weightStd = 0.25;
    init.randomizeNormsAndBiases = true;
    return CausalLM::createRandom(config, seed, at::kCPU, type, init, compute);
}

// The file a mapped address belongs to, from /proc/self/maps ("" when anonymous or not found).
std::string mappedFileOf(const void* address)
{
    const auto target = reinterpret_cast<std::uintptr_t>(address);
    std::ifstream maps("/proc/self/maps");
    std::string line;
    while (std::getline(maps, line)) {
        std::istringstream fields(line);
        std::string range, permissions, offset, device, inode, path;
        fields >> range >> permissions >> offset >> device >> inode;
        std::getline(fields >> std::ws, path);
        const std::size_t dash = range.find('-');
        const auto begin = std::stoull(range.substr(0, dash), nullptr, 16);
        const auto end = std::stoull(range.substr(dash + 1), nullptr, 16);
        if (target >= begin && target < end)
            return path;
    }
    return {};
}

at::Tensor parameterNamed(const CausalLM& model, const std::string& wanted)
{
    for (const auto& [name, tensor] : model.namedParameters())
        if (name == wanted)
            return tensor;
    throw sp::Error("no parameter " + wanted);
}

// Saves `model`'s weights (matrices in `type`, vectors in float32) with its config.json.
void saveAs(const CausalLM& model, const std::string& folder, at::ScalarType type)
{
    model.save(folder); // config.json + float32 weights
    if (type == at::kFloat)
        return;
    std::vector<at::Tensor> keep;
    std::vector<sp::TensorToWrite> tensors;
    for (const auto& [name, tensor] : model.namedParameters()) {
        const bool matrix = tensor.dim() >= 2;
        keep.push_back(tensor.detach().to(matrix ? type : at::kFloat).contiguous());
        tensors.push_back({name, matrix ? sp::TensorDType::BF16 : sp::TensorDType::F32, keep.back().sizes().vec(),
                           keep.back().data_ptr()});
    }
    sp::writeSafetensors(folder + "/model.safetensors", tensors);
}

} // namespace

class TestModelMemory : public QObject {
    Q_OBJECT
private Q_SLOTS:
    // float32 compute on half-precision weights is float32 arithmetic on the rounded weights: it must
    // match a float32 model holding exactly those weights to float32 rounding (1e-4 absolute on logits
    // of size ~10; the products are summed in another order, block by block). Native bfloat16 rounds
    // every activation to 8 significant bits: about 2^-8 relative per operation, so 0.1 absolute on
    // logits of this size after two layers, and the argmax mostly agrees.
    void halfPrecisionWeightsOnCpu_data()
    {
        QTest::addColumn<QString>("architecture");
        QTest::addColumn<int>("type");
        QTest::addColumn<int>("compute");
        for (const char* name : {"gpt2", "llama", "qwen2"}) {
            QTest::addRow("%s bfloat16 converted", name) << name << int(at::kBFloat16) << int(HalfCompute::Float32);
            QTest::addRow("%s float16 converted", name) << name << int(at::kHalf) << int(HalfCompute::Float32);
            QTest::addRow("%s bfloat16 native", name) << name << int(at::kBFloat16) << int(HalfCompute::Native);
        }
    }
    void halfPrecisionWeightsOnCpu()
    {
        QFETCH(QString, architecture);
        QFETCH(int, type);
        QFETCH(int, compute);
        const sp::ModelConfig config = configNamed(architecture.toStdString());
        const auto halfType = at::ScalarType(type);
        const bool native = HalfCompute(compute) == HalfCompute::Native;
        const auto model = randomHalfModel(config, 5, halfType, HalfCompute(compute));
        QCOMPARE(model->weightDtype(), halfType);
        QCOMPARE(model->dtype(), native ? halfType : at::kFloat);
        for (const auto& [name, tensor] : model->namedParameters())
            QVERIFY2(tensor.scalar_type() == (tensor.dim() >= 2 || native ? halfType : at::kFloat), name.c_str());
        const auto reference = roundedReference(config, 5, halfType, native);
        at::NoGradGuard noGrad;
        const at::Tensor ids = randomIds(2, 10, config.vocabSize, 3);
        const at::Tensor logits = model->forwardIds(ids).logits;     // [2, 10, V]
        const at::Tensor expected = reference->forwardIds(ids).logits; // [2, 10, V]
        QCOMPARE(logits.scalar_type(), at::kFloat);
        QVERIFY2(maxAbs(expected) > 1.0, "logits too small for the comparison to mean anything");
        const double worst = maxAbsDiff(logits, expected);
        qInfo("max |half - float32 on the same weights| = %.3g (max |logit| %.3g)", worst, maxAbs(expected));
        QVERIFY2(worst <= (native ? 0.1 * maxAbs(expected) : 1e-4), qPrintable(QString::number(worst)));
    }

    // The per-layer conversion in blocks (a weight over five 16 MB blocks) and its backward, which
    // converts again instead of keeping float32 copies: both equal float32 products on the same values.
    void convertedLinearMatchesFloat32InBlocks()
    {
        at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(3);
        const at::Tensor weight = at::randn({20000, 1024}, generator).to(at::kBFloat16); // 80 MB as float32
        const at::Tensor input = at::randn({3, 1024}, generator).requires_grad_(true);   // [3, 1024]
        const at::Tensor output = sp::model::linearConverted(input, weight, false);    // [3, 20000]
        const at::Tensor upstream = at::randn({3, 20000}, generator);
        (output * upstream).sum().backward();
        const at::Tensor wide = weight.to(at::kFloat);
        const at::Tensor reference = input.detach().matmul(wide.t());
        QVERIFY(maxAbsDiff(output, reference) <= 1e-3); // sums of 1024 products of size ~1: float32 order
        QVERIFY(maxAbsDiff(input.grad(), upstream.matmul(wide)) <= 1e-2); // sums of 20000 products
        // GPT-2's Conv1D layout [in, out] through the same path.
        const at::Tensor conv = sp::model::linearConverted(input.detach(), weight.t().contiguous(), true);
        QVERIFY(maxAbsDiff(conv, reference) <= 1e-3);
        // Frozen weights only.
        QVERIFY_THROWS_EXCEPTION(
            sp::Error, sp::model::linearConverted(input, wide.to(at::kBFloat16).requires_grad_(true), false));
    }

    // Gradients reach inputs_embeds through converted layers as through float32 ones.
    void convertedGradientsMatchFloat32()
    {
        const sp::ModelConfig config = tinyLlama();
        const auto model = randomHalfModel(config, 9, at::kBFloat16, HalfCompute::Float32);
        const auto reference = roundedReference(config, 9, at::kBFloat16, false);
        const at::Tensor ids = randomIds(1, 6, config.vocabSize, 4);
        auto gradientOf = [&](const CausalLM& lm) {
            at::Tensor embeds = lm.embed(ids).detach().requires_grad_(true); // [1, 6, d]
            sp::model::ForwardInput input;
            input.inputsEmbeds = embeds;
            input.positions = at::arange(6, at::kLong).unsqueeze(0);
            lm.forward(input).logits.logsumexp(-1).sum().backward();
            return embeds.grad();
        };
        const double worst = maxAbsDiff(gradientOf(*model), gradientOf(*reference));
        qInfo("max |converted - float32| gradient = %.3g", worst);
        QVERIFY2(worst <= 1e-4, qPrintable(QString::number(worst)));
        QVERIFY_THROWS_EXCEPTION(sp::Error, model->setTrainable(true));
    }

    // A large half-precision matrix is drawn in float32 blocks: the same values as one draw.
    void randomHalfModelDrawsTheFloat32Values()
    {
        sp::ModelConfig config = tinyLlama();
        config.vocabSize = 8300;
        config.hiddenSize = 2048; // 17M embedding values: over four 4M-value draw blocks
        config.numHeads = 16;
        config.numKeyValueHeads = 16;
        config.headDim = 128;
        config.intermediateSize = 64;
        config.numLayers = 1;
        const auto wide = CausalLM::createRandom(config, 11, at::kCPU, at::kFloat);
        const auto half = CausalLM::createRandom(config, 11, at::kCPU, at::kBFloat16);
        QVERIFY(at::equal(half->embeddingMatrix(), wide->embeddingMatrix().to(at::kBFloat16)));
        QVERIFY(at::equal(parameterNamed(*half, "lm_head.weight"),
                          parameterNamed(*wide, "lm_head.weight").to(at::kBFloat16)));
    }

    // Rows after a shared prefix read its cache in place: no per-row copy, and the returned cache
    // holds the prefix's own tensors plus only the rows' positions, through several decoded tokens.
    // Logits equal a full forward over prefix ⊕ row ⊕ decoded tokens.
    void sharedPrefixIsNeverCopied_data()
    {
        QTest::addColumn<QString>("architecture");
        for (const char* name : {"gpt2", "llama", "qwen2"})
            QTest::newRow(name) << QString::fromLatin1(name);
    }
    void sharedPrefixIsNeverCopied()
    {
        QFETCH(QString, architecture);
        const sp::ModelConfig config = configNamed(architecture.toStdString());
        const auto model = randomModel(config);
        at::NoGradGuard noGrad;
        const std::int64_t vocab = config.vocabSize;
        const at::Tensor prefixIds = randomIds(1, 9, vocab, 31); // [1, 9]
        const KVCache prefix = model->forwardIds(prefixIds, nullptr, true).cache.asSharedPrefix();
        QCOMPARE(prefix.length(), std::int64_t(9));
        QVERIFY(prefix.keys.empty());
        for (const std::int64_t batch : {std::int64_t(1), std::int64_t(3)}) {
            const at::Tensor rows = randomIds(batch, 4, vocab, 40 + batch); // [B, 4]
            const at::Tensor extra = randomIds(batch, 3, vocab, 50 + batch); // decoded one at a time
            auto output = model->forwardIds(rows, &prefix, true);
            std::vector<at::Tensor> logits{output.logits};
            KVCache cache = std::move(output.cache);
            for (std::int64_t t = 0; t < 3; ++t) {
                auto step = model->forwardIds(extra.narrow(1, t, 1), &cache, true);
                logits.push_back(step.logits);
                cache = std::move(step.cache);
            }
            QCOMPARE(cache.length(), std::int64_t(9 + 4 + 3));
            QCOMPARE(cache.keys.front().size(2), std::int64_t(4 + 3)); // own positions only
            QCOMPARE(cache.keys.front().size(0), batch);
            for (std::size_t layer = 0; layer < prefix.sharedKeys.size(); ++layer) {
                QCOMPARE(cache.sharedKeys[layer].data_ptr(), prefix.sharedKeys[layer].data_ptr());
                QCOMPARE(cache.sharedValues[layer].data_ptr(), prefix.sharedValues[layer].data_ptr());
            }
            const at::Tensor incremental = at::cat(logits, 1); // [B, 7, V]
            const at::Tensor whole = at::cat({prefixIds.expand({batch, 9}), rows, extra}, 1);
            const at::Tensor full = model->forwardIds(whole).logits.narrow(1, 9, 7); // [B, 7, V]
            const double worst = maxAbsDiff(incremental, full);
            qInfo("%s batch %lld: max |shared prefix - full forward| = %.3g", qPrintable(architecture),
                  static_cast<long long>(batch), worst);
            QVERIFY2(worst <= 1e-4, qPrintable(QString::number(worst)));
        }
    }

    // The teacher's greedy decoding after the shared context: the logits that chose each token
    // equal a full forward over context ⊕ query ⊕ the chosen tokens.
    void teacherGreedyOnSharedContextMatchesFullForward()
    {
        const sp::engine::EngineModel model = enginetest::tinyModel();
        const sp::model::CausalLM& lm = *model.lm;
        at::NoGradGuard noGrad;
        const std::vector<std::int32_t> context = model.encode("A context of some length for the test.");
        std::vector<std::int32_t> prefixIds = model.prefixIds;
        prefixIds.insert(prefixIds.end(), context.begin(), context.end());
        const at::Tensor prefixTensor =
            at::tensor(std::vector<std::int64_t>(prefixIds.begin(), prefixIds.end()), at::kLong).unsqueeze(0);
        const sp::engine::PrefixState prefix = sp::engine::prefixFromEmbeddings(lm, lm.embed(prefixTensor));
        QVERIFY(prefix.cache.keys.empty() && !prefix.cache.sharedKeys.empty()); // shared, not per row
        const std::vector<std::vector<std::int32_t>> rows{model.encode("Why?"), model.encode("Say hi"),
                                                          model.encode("2+2=")};
        const sp::engine::GreedyResult greedy = sp::engine::greedyAfterPrefix(lm, prefix, rows, 4, {});
        double worst = 0.0;
        for (std::size_t row = 0; row < rows.size(); ++row) {
            std::vector<std::int64_t> whole(prefixIds.begin(), prefixIds.end());
            whole.insert(whole.end(), rows[row].begin(), rows[row].end());
            const std::int64_t firstTarget = std::int64_t(whole.size()) - 1;
            whole.insert(whole.end(), greedy.tokens[row].begin(), greedy.tokens[row].end());
            const at::Tensor full = lm.forwardIds(at::tensor(whole, at::kLong).unsqueeze(0)).logits[0]; // [S, V]
            const auto steps = std::int64_t(greedy.tokens[row].size());
            QCOMPARE(steps, std::int64_t(4));
            worst = std::max(worst, maxAbsDiff(greedy.stepLogits[std::int64_t(row)].narrow(0, 0, steps),
                                               full.narrow(0, firstTarget, steps)));
        }
        qInfo("max |greedy on shared context - full forward| = %.3g", worst);
        QVERIFY2(worst <= 1e-4, qPrintable(QString::number(worst)));
    }

    // The context's pruning scores, computed in chunks of positions, equal the full logits' scores.
    void contextSurprisalInChunksMatchesFullLogits()
    {
        sp::ModelConfig config = enginetest::tinyConfig(sp::Architecture::Llama);
        config.maxPositionEmbeddings = 700; // a context over two 256-position chunks
        sp::model::RandomInit init;
        init.weightStd = 0.25;
        sp::engine::EngineModel model;
        model.lm = CausalLM::createRandom(config, 3, at::kCPU, at::kFloat, init);
        sp::engine::useByteLevelCodec(model);
        model.prefixIds = {enginetest::kBos};
        model.identity = "memory-test-surprisal";
        std::string text;
        while (text.size() < 600)
            text += "Every reply starts with a greeting and ends with a numbered list. ";
        const std::vector<std::int32_t> context = model.encode(text);
        sp::engine::TeacherCache::instance().clear();
        const auto state =
            sp::engine::contextState(model, model.prefixIds, context, {}, "memory-test-surprisal-context");
        QCOMPARE(state->surprisal.size(), context.size());
        QCOMPARE(state->prefix.length, std::int64_t(context.size() + 1));

        std::vector<std::int64_t> ids{enginetest::kBos};
        ids.insert(ids.end(), context.begin(), context.end());
        at::NoGradGuard noGrad;
        const at::Tensor logProbs =
            at::log_softmax(model.lm->forwardIds(at::tensor(ids, at::kLong).unsqueeze(0)).logits[0], -1); // [P, V]
        double worst = 0.0;
        for (std::size_t t = 0; t < context.size(); ++t) {
            const double expected = -logProbs[std::int64_t(t)][context[t]].item<double>();
            worst = std::max(worst, std::abs(state->surprisal[t] - expected));
        }
        qInfo("max |chunked surprisal - full logits| = %.3g over %zu positions", worst, context.size());
        QVERIFY2(worst <= 1e-4, qPrintable(QString::number(worst)));
        sp::engine::TeacherCache::instance().clear();
    }

    // Weights used as stored alias the file's mapping; fused and converted ones are copies. Both load
    // paths give the model's logits.
    void loadedWeightsAliasTheMapping_data()
    {
        QTest::addColumn<int>("fileType");
        QTest::newRow("float32 file, float32 model") << int(at::kFloat);
        QTest::newRow("bfloat16 file, bfloat16 model") << int(at::kBFloat16);
    }
    void loadedWeightsAliasTheMapping()
    {
        QFETCH(int, fileType);
        const auto type = at::ScalarType(fileType);
        QTemporaryDir dir;
        const std::string folder = QDir(dir.path()).filePath("model").toStdString();
        const auto original = randomModel(tinyLlama(), 13);
        saveAs(*original, folder, type);
        const auto loaded = CausalLM::loadFolder(folder, at::kCPU, type);
        const std::string file = std::filesystem::canonical(folder + "/model.safetensors").string();
        for (const char* name : {"model.layers.0.self_attn.o_proj.weight", "model.layers.1.mlp.down_proj.weight",
                                 "model.embed_tokens.weight", "lm_head.weight"}) {
            const at::Tensor weight = parameterNamed(*loaded, name);
            QCOMPARE(weight.scalar_type(), type);
            QVERIFY2(mappedFileOf(weight.data_ptr()) == file, name); // a view of the file, not a copy
        }
        // q/k/v are fused into one matrix, a copy: not in the file.
        QVERIFY(mappedFileOf(parameterNamed(*loaded, "model.layers.0.self_attn.q_proj.weight").data_ptr()) != file);
        // Norms of a bfloat16 model computing in float32 are converted copies.
        if (type != at::kFloat)
            QCOMPARE(parameterNamed(*loaded, "model.norm.weight").scalar_type(), at::kFloat);
        at::NoGradGuard noGrad;
        const at::Tensor ids = randomIds(1, 8, tinyLlama().vocabSize, 2);
        const auto reference = roundedReference(tinyLlama(), 13, type, false);
        const double worst = maxAbsDiff(loaded->forwardIds(ids).logits, reference->forwardIds(ids).logits);
        QVERIFY2(worst <= 1e-4, qPrintable(QString::number(worst)));
    }

    // Training a model whose weights alias the file changes private copies, never the file.
    void trainingMappedWeightsLeavesTheFile()
    {
        QTemporaryDir dir;
        const std::string folder = QDir(dir.path()).filePath("model").toStdString();
        randomModel(tinyLlama(), 17)->save(folder);
        const auto loaded = CausalLM::loadFolder(folder, at::kCPU, at::kFloat);
        const at::Tensor before = parameterNamed(*loaded, "model.layers.0.self_attn.o_proj.weight").clone();
        loaded->setTrainable(true);
        {
            at::NoGradGuard noGrad;
            parameterNamed(*loaded, "model.layers.0.self_attn.o_proj.weight").add_(1.0);
        }
        const auto again = CausalLM::loadFolder(folder, at::kCPU, at::kFloat);
        QVERIFY(at::equal(parameterNamed(*again, "model.layers.0.self_attn.o_proj.weight"), before));
    }

    // A truncated or corrupt file is still refused with an error that names it (the mapping never
    // reads past its end).
    void truncatedOrCorruptFileIsRefused_data()
    {
        QTest::addColumn<QString>("damage");
        QTest::newRow("truncated") << "truncated";
        QTest::newRow("garbage header") << "garbage";
    }
    void truncatedOrCorruptFileIsRefused()
    {
        QFETCH(QString, damage);
        QTemporaryDir dir;
        const std::string folder = QDir(dir.path()).filePath("model").toStdString();
        randomModel(tinyLlama(), 19)->save(folder);
        const std::string file = folder + "/model.safetensors";
        if (damage == "truncated") {
            std::filesystem::resize_file(file, std::filesystem::file_size(file) - 100);
        } else {
            std::fstream stream(file, std::ios::in | std::ios::out | std::ios::binary);
            stream.seekp(8);
            stream.write("{{{{not json", 12);
        }
        try {
            CausalLM::loadFolder(folder, at::kCPU, at::kFloat);
            QFAIL("a damaged file loaded");
        } catch (const sp::Error& error) {
            const QString message = QString::fromUtf8(error.what());
            QVERIFY2(message.contains("model.safetensors"), qPrintable(message));
        }
    }

    // The estimate counts the checkpoint's parameters in the chosen dtype plus working memory; a
    // model that does not fit is refused before loading, saying what to do.
    void memoryEstimateAndRefusal()
    {
        QTemporaryDir dir;
        const std::string folder = QDir(dir.path()).filePath("model").toStdString();
        const auto model = randomModel(tinyLlama(), 23);
        model->save(folder);
        std::int64_t parameters = 0, matrixParameters = 0;
        for (const auto& [name, tensor] : model->namedParameters()) {
            parameters += tensor.numel();
            matrixParameters += tensor.dim() >= 2 ? tensor.numel() : 0;
        }
        sp::ModelLoadOptions options;
        const sp::MemoryEstimate wide = sp::estimateModelMemory(folder, options);
        QCOMPARE(wide.parameters, parameters);
        QCOMPARE(wide.weightBytes, 4 * parameters);
        QCOMPARE(wide.requiredBytes, wide.weightBytes + wide.workingBytes);
        QVERIFY(wide.workingBytes > 0);
        QVERIFY(wide.availableBytes > 0); // MemAvailable exists on Linux
        options.dtype = "bfloat16";
        const sp::MemoryEstimate half = sp::estimateModelMemory(folder, options);
        QCOMPARE(half.weightBytes, 2 * matrixParameters + 4 * (parameters - matrixParameters));

        // Too little for float32 but enough for bfloat16: refused, advising bfloat16.
        sp::ModelLoadOptions tight;
        tight.availableMemoryBytes = (wide.requiredBytes + half.requiredBytes) / 2;
        QVERIFY(half.requiredBytes < tight.availableMemoryBytes);
        try {
            sp::ModelHandle::load(folder, tight);
            QFAIL("a model larger than the free memory loaded");
        } catch (const sp::Error& error) {
            // Core says it in its own words and names no flag; the front ends add theirs per remedy.
            const QString message = QString::fromUtf8(error.what());
            QVERIFY2(message.contains("load it in bfloat16, which needs about") && message.contains("free") &&
                         !message.contains("--"),
                     qPrintable(message));
            QCOMPARE(error.remedy(), sp::Remedy::UseBfloat16);
        }
        tight.dtype = "bfloat16";
        const sp::ModelHandle loaded = sp::ModelHandle::load(folder, tight);
        QCOMPARE(QString::fromStdString(loaded.summary().dtype), QStringLiteral("bfloat16"));
        QCOMPARE(QString::fromStdString(loaded.summary().computeDtype), QStringLiteral("float32"));
        QCOMPARE(sp::modelWeightBytes(loaded), half.weightBytes);
        // Too little even for bfloat16: refused all the same.
        tight.availableMemoryBytes = 1000;
        try {
            sp::ModelHandle::load(folder, tight);
            QFAIL("a model larger than the free memory loaded in bfloat16");
        } catch (const sp::Error& error) {
            QCOMPARE(error.remedy(), sp::Remedy::None); // no dtype of the model bar helps
        }
    }
};

QTEST_GUILESS_MAIN(TestModelMemory)
#include "test_model_memory.moc"
