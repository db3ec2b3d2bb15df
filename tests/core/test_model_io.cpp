// Loading Hugging Face folders: golden references from transformers, save/load round trips, naming
// variants, shards, dtypes, load errors, and the public ModelHandle (identity, demo, generation).
#ifndef Q_MOC_RUN // moc needs none of these; following them into torch took it ~10 s a test
#include "../support/test_support.h"
#include "model/causal_lm.h"
#include "model/generation.h"
#include "model/model_identity.h"
#include "softprompt/error.h"
#include "softprompt/hash.h"
#include "softprompt/model_handle.h"
#include "softprompt/paths.h"
#include "softprompt/safetensors.h"
#include "test_model_support.h"
#endif

#include <QDir>
#include <QTemporaryDir>
#include <QtTest>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

using namespace modeltest;
using sp::model::CausalLM;

namespace {

std::string folderIn(const QTemporaryDir& dir, const char* name)
{
    return QDir(dir.path()).filePath(name).toStdString();
}

// Rewrites a saved model's weights: `rename` maps each name (empty = drop), `extra` adds tensors.
void rewriteWeights(const std::string& folder, const std::function<std::string(const std::string&)>& rename,
                    const std::vector<std::pair<std::string, at::Tensor>>& extra = {},
                    sp::TensorDType dtype = sp::TensorDType::F32)
{
    const auto file = sp::SafetensorsFile::open(folder + "/model.safetensors");
    std::vector<at::Tensor> keep;
    std::vector<sp::TensorToWrite> tensors;
    const at::ScalarType type = dtype == sp::TensorDType::F16    ? at::kHalf
                                : dtype == sp::TensorDType::BF16 ? at::kBFloat16
                                                                 : at::kFloat;
    auto add = [&](const std::string& name, const at::Tensor& value) {
        keep.push_back(value.to(type).contiguous());
        tensors.push_back({name, dtype, keep.back().sizes().vec(), keep.back().data_ptr()});
    };
    for (const std::string& name : file->names()) {
        const std::string target = rename(name);
        if (target.empty())
            continue;
        const sp::TensorView& view = file->tensor(name);
        add(target, at::from_blob(const_cast<std::byte*>(view.data), view.shape, at::kFloat).clone());
    }
    for (const auto& [name, value] : extra)
        add(name, value);
    sp::writeSafetensors(folder + "/model.safetensors", tensors);
}

at::Tensor logitsOf(const CausalLM& model, const at::Tensor& ids)
{
    at::NoGradGuard noGrad;
    return model.forwardIds(ids).logits;
}

// Every folder under the shared fixtures and tests/data with reference outputs.
std::vector<std::pair<QString, QString>> goldenFolders()
{
    std::vector<std::pair<QString, QString>> found;
    const QString roots[] = {QDir(QStringLiteral(SP_SHARED_FIXTURES_DIR)).filePath("hf-tiny"),
                             sptest::testData("hf-tiny")};
    for (const QString& root : roots) {
        const QDir dir(root);
        for (const QString& name : dir.entryList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name)) {
            const QDir model(dir.filePath(name));
            if (model.exists("expected.json") || model.exists("reference.safetensors"))
                found.emplace_back(name, model.path());
        }
    }
    return found;
}

} // namespace

class TestModelIo : public QObject {
    Q_OBJECT
    QTemporaryDir cacheHome_;

private Q_SLOTS:
    void initTestCase()
    {
        // File digests are cached under XDG_CACHE_HOME: keep this run's cache private.
        QVERIFY(cacheHome_.isValid());
        qputenv("XDG_CACHE_HOME", cacheHome_.path().toUtf8());
    }

    void hfTinyGolden_data()
    {
        QTest::addColumn<QString>("folder");
        const auto folders = goldenFolders();
        if (folders.empty())
            QTest::newRow("none") << QString();
        for (const auto& [name, path] : folders)
            QTest::newRow(qPrintable(name)) << path;
    }
    void hfTinyGolden()
    {
        QFETCH(QString, folder);
        if (folder.isEmpty())
            QSKIP(
                "no hf-tiny reference folder: ../shared/fixtures/hf-tiny/ is absent and tests/data/hf-tiny/ "
                "is empty (tests/data/make_hf_tiny.py makes it on a machine with transformers)");
        const auto model = CausalLM::loadFolder(folder.toStdString(), at::kCPU, at::kFloat);
        const QDir dir(folder);
        if (dir.exists("reference.safetensors")) {
            // Written by tests/data/make_hf_tiny.py: every position's logits from transformers.
            const auto reference =
                sp::SafetensorsFile::open(dir.filePath("reference.safetensors").toStdString());
            const sp::TensorView& idsView = reference->tensor("input_ids");
            const sp::TensorView& logitsView = reference->tensor("logits");
            const at::Tensor ids =
                at::from_blob(const_cast<std::byte*>(idsView.data), idsView.shape, at::kLong).clone();
            const at::Tensor expected =
                at::from_blob(const_cast<std::byte*>(logitsView.data), logitsView.shape, at::kFloat)
                    .clone(); // [B, T, V]
            const double difference = maxAbsDiff(logitsOf(*model, ids), expected);
            qInfo("%s: max |logits - transformers| = %.3g over %lld values", qPrintable(dir.dirName()),
                  difference, static_cast<long long>(expected.numel()));
            QVERIFY2(difference <= 1e-4, qPrintable(QString::number(difference)));
            if (reference->contains("greedy_ids")) {
                const sp::TensorView& greedyView = reference->tensor("greedy_ids");
                const at::Tensor greedy =
                    at::from_blob(const_cast<std::byte*>(greedyView.data), greedyView.shape, at::kLong)
                        .clone(); // [B, N]
                for (std::int64_t row = 0; row < ids.size(0); ++row) {
                    const auto prompt = std::vector<std::int64_t>(
                        ids[row].data_ptr<std::int64_t>(), ids[row].data_ptr<std::int64_t>() + ids.size(1));
                    const auto generated = sp::model::greedyDecode(*model, prompt, int(greedy.size(1)), {});
                    QCOMPARE(generated, std::vector<std::int64_t>(greedy[row].data_ptr<std::int64_t>(),
                                                                  greedy[row].data_ptr<std::int64_t>() +
                                                                      greedy.size(1)));
                }
            }
            return;
        }
        // expected.json in the onnxruntime-genai layout (the shared tiny-random-gpt2 fixture).
        const nlohmann::json expected =
            nlohmann::json::parse(sp::readTextFile(dir.filePath("expected.json").toStdString()));
        const auto idRows = expected.at("input_ids").get<std::vector<std::vector<std::int64_t>>>();
        const std::int64_t batch = std::int64_t(idRows.size());
        const std::int64_t length = std::int64_t(idRows.front().size());
        at::Tensor ids = at::empty({batch, length}, at::kLong);
        for (std::int64_t r = 0; r < batch; ++r)
            ids[r].copy_(at::tensor(idRows[std::size_t(r)], at::kLong));
        const at::Tensor flat = logitsOf(*model, ids).reshape({-1}); // [B * T * V]
        double worst = 0.0;
        const nlohmann::json& prompt = expected.at("prompt_logits_flat_every_200");
        const auto indices = prompt.at("indices").get<std::vector<std::int64_t>>();
        const auto values = prompt.at("values").get<std::vector<double>>();
        for (std::size_t i = 0; i < indices.size(); ++i)
            worst = std::max(worst, std::abs(flat[indices[i]].item<double>() - values[i]));

        const auto greedyRows =
            expected.at("greedy_max_length_10").get<std::vector<std::vector<std::int64_t>>>();
        at::Tensor stepIds = at::empty({batch, length + 1}, at::kLong); // prompt + first generated token
        for (std::int64_t r = 0; r < batch; ++r) {
            const auto& row = idRows[std::size_t(r)];
            const auto& full = greedyRows[std::size_t(r)];
            const auto generated = sp::model::greedyDecode(*model, row, int(full.size() - row.size()),
                                                           model->config().eosTokenIds);
            QCOMPARE(generated,
                     std::vector<std::int64_t>(full.begin() + std::ptrdiff_t(row.size()), full.end()));
            stepIds[r].copy_(
                at::tensor(std::vector<std::int64_t>(full.begin(), full.begin() + length + 1), at::kLong));
        }
        const at::Tensor stepFlat = logitsOf(*model, stepIds).select(1, length).reshape({-1}); // [B * V]
        const nlohmann::json& step = expected.at("step_logits_flat_every_200");
        const auto stepIndices = step.at("indices").get<std::vector<std::int64_t>>();
        const auto stepValues = step.at("values").get<std::vector<double>>();
        for (std::size_t i = 0; i < stepIndices.size(); ++i)
            worst = std::max(worst, std::abs(stepFlat[stepIndices[i]].item<double>() - stepValues[i]));
        qInfo("%s: max |logits - reference| = %.3g over %zu sampled values", qPrintable(dir.dirName()), worst,
              indices.size() + stepIndices.size());
        QVERIFY2(worst <= 1e-5, qPrintable(QString::number(worst)));
    }

    void saveLoadRoundTrip_data()
    {
        QTest::addColumn<QString>("architecture");
        for (const char* name : allArchitectures)
            QTest::newRow(name) << QString::fromLatin1(name);
    }
    void saveLoadRoundTrip()
    {
        QFETCH(QString, architecture);
        QTemporaryDir dir;
        const auto model = randomModel(configNamed(architecture.toStdString()), 3);
        model->save(folderIn(dir, "m"));
        const auto loaded = CausalLM::loadFolder(folderIn(dir, "m"), at::kCPU, at::kFloat);
        const sp::ModelConfig& a = loaded->config();
        const sp::ModelConfig& b = model->config();
        QVERIFY(a.modelType == b.modelType && a.vocabSize == b.vocabSize && a.hiddenSize == b.hiddenSize &&
                a.numLayers == b.numLayers && a.numHeads == b.numHeads &&
                a.numKeyValueHeads == b.numKeyValueHeads && a.headDim == b.headDim &&
                a.intermediateSize == b.intermediateSize &&
                a.maxPositionEmbeddings == b.maxPositionEmbeddings && a.ropeScaling == b.ropeScaling &&
                a.ropeTheta == b.ropeTheta && a.slidingWindow == b.slidingWindow &&
                a.tieWordEmbeddings == b.tieWordEmbeddings && a.normEpsilon == b.normEpsilon);
        const auto original = model->namedParameters();
        const auto reloaded = loaded->namedParameters();
        QCOMPARE(reloaded.size(), original.size());
        for (std::size_t i = 0; i < original.size(); ++i) {
            QCOMPARE(reloaded[i].first, original[i].first);
            QVERIFY2(at::equal(reloaded[i].second, original[i].second), original[i].first.c_str());
            QVERIFY(!reloaded[i].second.requires_grad());
        }
        const at::Tensor ids = randomIds(2, 7, model->config().vocabSize, 4);
        QCOMPARE(maxAbsDiff(logitsOf(*loaded, ids), logitsOf(*model, ids)), 0.0);
    }

    void namesWithoutPrefixAndBuffersAreAccepted_data()
    {
        QTest::addColumn<QString>("architecture");
        QTest::newRow("gpt2") << "gpt2";
        QTest::newRow("llama") << "llama";
    }
    void namesWithoutPrefixAndBuffersAreAccepted()
    {
        QFETCH(QString, architecture);
        QTemporaryDir dir;
        const std::string folder = folderIn(dir, "m");
        const auto model = randomModel(configNamed(architecture.toStdString()), 4);
        model->save(folder);
        const std::string prefix = architecture == "gpt2" ? "transformer." : "model.";
        std::vector<std::pair<std::string, at::Tensor>> extra;
        if (architecture ==
            "gpt2") // old GPT-2 checkpoints carry the causal-mask buffers and a copy of the head
            extra = {{"h.0.attn.bias", at::ones({1, 1, 64, 64})},
                     {"h.0.attn.masked_bias", at::full({}, -1e4)},
                     {"lm_head.weight", model->embeddingMatrix().detach().clone()}};
        else
            extra = {{"layers.0.self_attn.rotary_emb.inv_freq", at::ones({4})}};
        rewriteWeights(
            folder,
            [&](const std::string& name) {
                return name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
            },
            extra);
        const auto loaded = CausalLM::loadFolder(folder, at::kCPU, at::kFloat);
        const at::Tensor ids = randomIds(1, 6, model->config().vocabSize, 5);
        QCOMPARE(maxAbsDiff(logitsOf(*loaded, ids), logitsOf(*model, ids)), 0.0);
    }

    void shardedCheckpointLoads()
    {
        QTemporaryDir dir;
        const std::string folder = folderIn(dir, "m");
        const auto model = randomModel(tinyLlama(), 5);
        model->save(folder);
        const auto whole = sp::SafetensorsFile::open(folder + "/model.safetensors");
        nlohmann::json weightMap = nlohmann::json::object();
        std::vector<sp::TensorToWrite> shards[2];
        std::size_t index = 0;
        for (const std::string& name : whole->names()) {
            const sp::TensorView& view = whole->tensor(name);
            const std::size_t shard = index++ % 2;
            shards[shard].push_back({name, view.dtype, view.shape, view.data});
            weightMap[name] = "model-0000" + std::to_string(shard + 1) + "-of-00002.safetensors";
        }
        for (std::size_t shard = 0; shard < 2; ++shard)
            sp::writeSafetensors(folder + "/model-0000" + std::to_string(shard + 1) + "-of-00002.safetensors",
                                 shards[shard]);
        sp::writeTextFile(
            folder + "/model.safetensors.index.json",
            nlohmann::json{{"metadata", {{"total_size", 0}}}, {"weight_map", weightMap}}.dump());
        std::filesystem::remove(folder + "/model.safetensors");
        const auto loaded = CausalLM::loadFolder(folder, at::kCPU, at::kFloat);
        const at::Tensor ids = randomIds(1, 6, 101, 6);
        QCOMPARE(maxAbsDiff(logitsOf(*loaded, ids), logitsOf(*model, ids)), 0.0);
    }

    void halfPrecisionFilesLoadAsFloat32_data()
    {
        QTest::addColumn<bool>("brain");
        QTest::newRow("F16") << false;
        QTest::newRow("BF16") << true;
    }
    void halfPrecisionFilesLoadAsFloat32()
    {
        QFETCH(bool, brain);
        QTemporaryDir dir;
        const std::string folder = folderIn(dir, "m");
        const auto model = randomModel(tinyQwen2(), 6);
        model->save(folder);
        rewriteWeights(
            folder, [](const std::string& name) { return name; }, {},
            brain ? sp::TensorDType::BF16 : sp::TensorDType::F16);
        const auto loaded = CausalLM::loadFolder(folder, at::kCPU, at::kFloat);
        QCOMPARE(loaded->dtype(), at::kFloat);
        {
            at::NoGradGuard noGrad;
            for (auto& [name, tensor] : model->namedParameters())
                tensor.copy_(
                    tensor.to(brain ? at::kBFloat16 : at::kHalf).to(at::kFloat)); // what the file holds
        }
        const at::Tensor ids = randomIds(1, 6, 101, 7);
        QCOMPARE(maxAbsDiff(logitsOf(*loaded, ids), logitsOf(*model, ids)), 0.0);
        // Kept in the file's half precision on the CPU, computed in float32 blocks: the same logits
        // as the float32 model that holds the rounded weights (float32 summation, so within 1e-5).
        const at::ScalarType half = brain ? at::kBFloat16 : at::kHalf;
        const auto halfLoaded = CausalLM::loadFolder(folder, at::kCPU, half);
        QCOMPARE(halfLoaded->weightDtype(), half);
        QVERIFY(maxAbsDiff(logitsOf(*halfLoaded, ids), logitsOf(*model, ids)) <= 1e-5);
    }

    void loadErrorsNameTheProblem()
    {
        QTemporaryDir dir;
        const std::string folder = folderIn(dir, "m");
        randomModel(tinyLlama(), 7)->save(folder);
        const std::string missing = "model.layers.1.mlp.up_proj.weight";
        rewriteWeights(folder,
                       [&](const std::string& name) { return name == missing ? std::string() : name; });
        try {
            CausalLM::loadFolder(folder, at::kCPU, at::kFloat);
            QFAIL("loaded with a missing weight");
        } catch (const sp::Error& error) {
            QVERIFY2(QString(error.what()).contains(QString::fromStdString(missing)), error.what());
        }
        rewriteWeights(folder, [](const std::string& name) { return name; },
                       {{missing, at::zeros({48, 31})}});
        try {
            CausalLM::loadFolder(folder, at::kCPU, at::kFloat);
            QFAIL("loaded with a wrong shape");
        } catch (const sp::Error& error) {
            QVERIFY2(QString(error.what()).contains("[48, 31]") && QString(error.what()).contains("[48, 32]"),
                     error.what());
        }
        QVERIFY_THROWS_EXCEPTION(sp::Error,
                                 CausalLM::loadFolder(folderIn(dir, "absent"), at::kCPU, at::kFloat));
    }

    void handleLoadsFolderWithIdentity()
    {
        QTemporaryDir dir;
        const std::string folder = folderIn(dir, "tiny-gpt2");
        const auto model = randomModel(tinyGpt2(), 8);
        model->save(folder);
        const sp::ModelHandle handle = sp::ModelHandle::load(folder);
        const sp::ModelSummary& summary = handle.summary();
        QCOMPARE(summary.name, std::string("tiny-gpt2"));
        QCOMPARE(summary.modelType, std::string("gpt2"));
        QCOMPARE(summary.contextWindow, std::int64_t(64));
        QCOMPARE(summary.vocabSize, std::int64_t(97));
        QCOMPARE(summary.device, std::string("cpu"));
        QCOMPARE(summary.dtype, std::string("float32"));
        std::int64_t parameters = 0;
        for (const auto& [name, tensor] : model->namedParameters())
            parameters += tensor.numel();
        QCOMPARE(summary.parameterCount, parameters);
        // The identity is sha256 over config.json and the weights, each named.
        sp::Sha256 expected;
        for (const char* file : {"config.json", "model.safetensors"}) {
            expected.update(std::string(file));
            expected.update(std::string_view("\0", 1));
            expected.update(sp::sha256File(folder + "/" + file));
            expected.update("\n");
        }
        QCOMPARE(summary.identity, expected.hexDigest());
        QCOMPARE(sp::ModelHandle::load(folder).summary().identity, summary.identity);
        // The digest cache lives in XDG_CACHE_HOME and remembers the weight file.
        const QString cacheFile = cacheHome_.filePath("softprompt-workbench/file-digests.json");
        QVERIFY(QFileInfo::exists(cacheFile));
        QVERIFY(sp::readTextFile(cacheFile.toStdString()).find("model.safetensors") != std::string::npos);
        // Other weights: another identity, even though the cache knew the old file.
        randomModel(tinyGpt2(), 9)->save(folder);
        std::filesystem::last_write_time(folder + "/model.safetensors",
                                         std::filesystem::file_time_type::clock::now() +
                                             std::chrono::seconds(5));
        QVERIFY(sp::ModelHandle::load(folder).summary().identity != summary.identity);

        // Without tokenizer.json the model still decodes ids; text needs the tokenizer.
        const std::vector<std::int32_t> generated = handle.generateIds({5, 6, 7}, 4);
        const auto direct = sp::model::greedyDecode(*randomModel(tinyGpt2(), 8), {5, 6, 7}, 4, {96});
        QCOMPARE(std::vector<std::int64_t>(generated.begin(), generated.end()), direct);
        try {
            handle.tokenizer();
            QFAIL("a tokenizer appeared from nowhere");
        } catch (const sp::Error& error) {
            QVERIFY2(QString(error.what()).contains("tokenizer.json"), error.what());
        }
    }

    void handleErrors()
    {
        QVERIFY_THROWS_EXCEPTION(sp::Error, sp::ModelHandle::load("/nonexistent/model/folder"));
        sp::ModelLoadOptions options;
        options.dtype = "float8";
        QTemporaryDir dir;
        randomModel(tinyGpt2(), 1)->save(folderIn(dir, "m"));
        QVERIFY_THROWS_EXCEPTION(sp::Error, sp::ModelHandle::load(folderIn(dir, "m"), options));
        options = {};
        options.device = "tpu";
        QVERIFY_THROWS_EXCEPTION(sp::Error, sp::ModelHandle::load(folderIn(dir, "m"), options));
    }

    void demoResolvesOrSaysItIsNotBuilt()
    {
        std::string demoFolder;
        try {
            demoFolder = sp::demoModelDirectory();
        } catch (const sp::Error&) {
        }
        if (!demoFolder.empty() && std::filesystem::exists(demoFolder + "/config.json")) {
            const sp::ModelHandle demo = sp::ModelHandle::load("demo");
            QCOMPARE(demo.summary().name, std::string("demo"));
            QCOMPARE(demo.summary().identity.size(), std::size_t(64));
            return;
        }
        try {
            sp::ModelHandle::load("demo");
            QFAIL("loaded a demo model that does not exist");
        } catch (const sp::Error& error) {
            QVERIFY2(QString(error.what()).contains("demo model is not built yet"), error.what());
            QVERIFY2(!QString(error.what()).contains("--model"), error.what()); // the CLI adds its flag
            if (!demoFolder.empty()) // a data folder without the model: use a Hugging Face folder instead
                QCOMPARE(error.remedy(), sp::Remedy::ChooseModelFolder);
        }
    }
};

QTEST_GUILESS_MAIN(TestModelIo)
#include "test_model_io.moc"
