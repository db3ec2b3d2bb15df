// PEFT prompt-tuning adapters: the layout peft's PeftModel.from_pretrained loads, written from a
// stored run and read back bit for bit; malformed adapters are refused with a clear error.
#include "store_support/store_test_util.h"

#include "softprompt/error.h"
#include "softprompt/paths.h"
#include "softprompt/run_store.h"
#include "softprompt/safetensors.h"

#include <QTemporaryDir>
#include <QtTest>

#include <cfloat>
#include <cstring>
#include <filesystem>
#include <random>

using namespace storetest;

namespace {

std::string pathIn(const QTemporaryDir& folder, const char* name)
{
    return QDir(folder.path()).filePath(name).toStdString();
}

// σ with the float values that most easily lose bits: signed zero, subnormals, NaN payloads, infinities.
sp::SoftPrompt awkwardSigma()
{
    sp::SoftPrompt sigma;
    sigma.k = 5;
    sigma.dim = 7;
    sigma.values.resize(35); // [5, 7]
    std::mt19937 generator(11);
    std::normal_distribution<float> normal(0.0f, 0.02f);
    for (float& value : sigma.values)
        value = normal(generator);
    const std::uint32_t nanWithPayload = 0x7fc01234u;
    std::memcpy(&sigma.values[0], &nanWithPayload, 4);
    sigma.values[1] = -0.0f;
    sigma.values[2] = FLT_TRUE_MIN;
    sigma.values[3] = INFINITY;
    sigma.values[4] = -FLT_MAX;
    return sigma;
}

bool sameBits(const sp::SoftPrompt& a, const sp::SoftPrompt& b)
{
    return a.k == b.k && a.dim == b.dim && a.values.size() == b.values.size() &&
           std::memcmp(a.values.data(), b.values.data(), a.values.size() * sizeof(float)) == 0;
}

std::int64_t storeRun(sp::RunStore& store, const sp::SoftPrompt& sigma, nlohmann::json config,
                      std::optional<std::int64_t> contextId = std::nullopt)
{
    sp::NewRun run = exampleRun("peft", sigma.k);
    run.config = std::move(config);
    run.contextId = contextId;
    run.model.path = "/models/tiny";
    run.model.summary = {
        {"path", "/models/tiny"}, {"hiddenSize", sigma.dim}, {"numHeads", 1}, {"numLayers", 2}};
    auto writer = store.startRun(run);
    writer->checkpoint(30, sigma);
    writer->finish(sp::RunStatus::Finished);
    return writer->runId();
}

void writeConfig(const std::string& folder, const nlohmann::json& config)
{
    std::filesystem::create_directories(folder);
    sp::writeTextFile(folder + "/adapter_config.json", config.dump(2));
}

nlohmann::json validConfig(int k, int dim)
{
    return {{"peft_type", "PROMPT_TUNING"},    {"task_type", "CAUSAL_LM"},
            {"num_virtual_tokens", k},         {"token_dim", dim},
            {"num_transformer_submodules", 1}, {"base_model_name_or_path", "gpt2"},
            {"prompt_tuning_init", "RANDOM"},  {"inference_mode", true}};
}

} // namespace

class TestStorePeft : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void exportWritesThePeftLayout()
    {
        QTemporaryDir folder;
        sp::RunStore store = sp::RunStore::open(pathIn(folder, "runs.sqlite"));
        const sp::SoftPrompt sigma = awkwardSigma();
        const std::int64_t runId = storeRun(store, sigma, {{"k", 5}, {"init", "random"}});
        const std::string adapter = pathIn(folder, "adapter");
        store.exportPeft(runId, adapter);

        const nlohmann::json config =
            nlohmann::json::parse(sp::readTextFile(adapter + "/adapter_config.json"));
        QCOMPARE(config["peft_type"].get<std::string>(), std::string("PROMPT_TUNING"));
        QCOMPARE(config["task_type"].get<std::string>(), std::string("CAUSAL_LM"));
        QCOMPARE(config["num_virtual_tokens"].get<int>(), 5);
        QCOMPARE(config["token_dim"].get<int>(), 7);
        QCOMPARE(config["num_transformer_submodules"].get<int>(), 1);
        QCOMPARE(config["num_attention_heads"].get<int>(), 1);
        QCOMPARE(config["num_layers"].get<int>(), 2);
        QCOMPARE(config["base_model_name_or_path"].get<std::string>(), std::string("/models/tiny"));
        QCOMPARE(config["prompt_tuning_init"].get<std::string>(), std::string("RANDOM"));
        QVERIFY(config["tokenizer_name_or_path"].is_null()); // peft requires it only with TEXT
        QCOMPARE(config["inference_mode"].get<bool>(), true);

        // adapter_model.safetensors: exactly one F32 tensor prompt_embeddings [k, d], metadata {"format":
        // "pt"}.
        const std::string bytes = fileBytes(adapter + "/adapter_model.safetensors");
        std::uint64_t headerLength = 0;
        std::memcpy(&headerLength, bytes.data(), 8);
        const nlohmann::json header = nlohmann::json::parse(bytes.substr(8, headerLength));
        QCOMPARE(header.size(), std::size_t(2));
        QCOMPARE(header["__metadata__"], nlohmann::json({{"format", "pt"}}));
        QCOMPARE(header["prompt_embeddings"]["dtype"].get<std::string>(), std::string("F32"));
        QCOMPARE(header["prompt_embeddings"]["shape"], nlohmann::json({5, 7}));
        QCOMPARE(header["prompt_embeddings"]["data_offsets"], nlohmann::json({0, 35 * 4}));
        QCOMPARE(bytes.size(), std::size_t(8 + headerLength + 35 * 4));
        QVERIFY(std::memcmp(bytes.data() + 8 + headerLength, sigma.values.data(), 35 * 4) == 0);
    }

    void importReadsItBackBitForBit()
    {
        QTemporaryDir folder;
        sp::RunStore store = sp::RunStore::open(pathIn(folder, "runs.sqlite"));
        const sp::SoftPrompt sigma = awkwardSigma();
        const std::int64_t original = storeRun(store, sigma, {{"k", 5}, {"init", "random"}});
        const std::string first = pathIn(folder, "first");
        store.exportPeft(original, first);

        const sp::PeftAdapter adapter = sp::readPeftAdapter(first);
        QVERIFY(sameBits(adapter.sigma, sigma));
        QCOMPARE(adapter.numAttentionHeads, 1);
        QCOMPARE(adapter.numLayers, 2);
        QCOMPARE(adapter.baseModelNameOrPath, std::string("/models/tiny"));

        const std::int64_t imported = store.importPeft(first);
        QVERIFY(imported != original);
        const sp::RunRecord run = store.run(imported);
        QCOMPARE(run.status, sp::RunStatus::Finished);
        QCOMPARE(run.tags, std::vector<std::string>{"imported"});
        QCOMPARE(run.config["k"].get<int>(), 5);
        QCOMPARE(run.model.path, std::string("/models/tiny"));
        QVERIFY(sameBits(store.loadSigma(imported), sigma));

        // Out again: the same bytes and the same configuration.
        const std::string second = pathIn(folder, "second");
        store.exportPeft(imported, second);
        QVERIFY(fileBytes(second + "/adapter_model.safetensors") ==
                fileBytes(first + "/adapter_model.safetensors"));
        QCOMPARE(nlohmann::json::parse(sp::readTextFile(second + "/adapter_config.json")),
                 nlohmann::json::parse(sp::readTextFile(first + "/adapter_config.json")));
    }

    void textInitialisationIsDeclaredAsPeftRequiresIt()
    {
        QTemporaryDir folder;
        sp::RunStore store = sp::RunStore::open(pathIn(folder, "runs.sqlite"));
        const std::int64_t contextId = store.putContext("Always answer in French.");
        const std::int64_t fromContext =
            storeRun(store, sigmaForStep(1, 3, 7), {{"k", 3}, {"init", "text"}}, contextId);
        const std::int64_t fromText =
            storeRun(store, sigmaForStep(2, 3, 7), {{"k", 3}, {"init", "text"}, {"init_text", "Be brief."}});
        store.exportPeft(fromContext, pathIn(folder, "a"));
        store.exportPeft(fromText, pathIn(folder, "b"));
        const auto a = nlohmann::json::parse(sp::readTextFile(pathIn(folder, "a") + "/adapter_config.json"));
        const auto b = nlohmann::json::parse(sp::readTextFile(pathIn(folder, "b") + "/adapter_config.json"));
        QCOMPARE(a["prompt_tuning_init"].get<std::string>(), std::string("TEXT"));
        QCOMPARE(a["prompt_tuning_init_text"].get<std::string>(), std::string("Always answer in French."));
        QCOMPARE(a["tokenizer_name_or_path"].get<std::string>(), std::string("/models/tiny"));
        QCOMPARE(b["prompt_tuning_init_text"].get<std::string>(), std::string("Be brief."));
        // An imported TEXT adapter goes back out with its own init text and tokenizer.
        const std::int64_t imported = store.importPeft(pathIn(folder, "b"));
        store.exportPeft(imported, pathIn(folder, "c"));
        QCOMPARE(nlohmann::json::parse(sp::readTextFile(pathIn(folder, "c") + "/adapter_config.json")), b);
    }

    void halfPrecisionAdaptersAreWidened()
    {
        QTemporaryDir folder;
        const std::string adapter = pathIn(folder, "half");
        writeConfig(adapter, validConfig(1, 6));
        // 1, -2, 0.5, 65504 (largest half), 2^-24 (smallest subnormal), +inf
        const std::uint16_t half[6] = {0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x7c00};
        sp::writeSafetensors(adapter + "/adapter_model.safetensors",
                             {{"prompt_embeddings", sp::TensorDType::F16, {1, 6}, half}}, {{"format", "pt"}});
        const sp::SoftPrompt sigma = sp::readPeftAdapter(adapter).sigma;
        const std::vector<float> expected = {1.0f, -2.0f, 0.5f, 65504.0f, std::ldexp(1.0f, -24), INFINITY};
        QCOMPARE(sigma.values, expected);

        const std::uint16_t bfloat[3] = {0x3f80, 0xc040, 0x0000}; // 1, -3, 0
        writeConfig(adapter, validConfig(1, 3));
        sp::writeSafetensors(adapter + "/adapter_model.safetensors",
                             {{"prompt_embeddings", sp::TensorDType::BF16, {1, 3}, bfloat}},
                             {{"format", "pt"}});
        QCOMPARE(sp::readPeftAdapter(adapter).sigma.values, (std::vector<float>{1.0f, -3.0f, 0.0f}));
    }

    void malformedAdaptersAreRefused_data()
    {
        QTest::addColumn<QString>("problem");
        QTest::addColumn<QString>("phrase");
        QTest::newRow("LoRA adapter") << "lora"
                                      << "only PROMPT_TUNING";
        QTest::newRow("seq2seq task") << "seq2seq"
                                      << "only CAUSAL_LM";
        QTest::newRow("two submodules") << "submodules"
                                        << "a causal LM adapter has 1";
        QTest::newRow("shape disagrees with config") << "shape"
                                                     << "but adapter_config.json says";
        QTest::newRow("pickle weights only") << "pickle"
                                             << "safe_serialization=True";
        QTest::newRow("no weights") << "no weights"
                                    << "has no adapter_model.safetensors";
        QTest::newRow("other tensor name") << "name"
                                           << "has no tensor \"prompt_embeddings\"";
        QTest::newRow("3-D tensor") << "rank"
                                    << "dimensions";
        QTest::newRow("integer tensor") << "dtype"
                                        << "expected F32";
        QTest::newRow("no config") << "no config"
                                   << "has no adapter_config.json";
        QTest::newRow("config not JSON") << "not json"
                                         << "is not a JSON object";
        QTest::newRow("a file, not a folder") << "file"
                                              << "is not a folder";
    }
    void malformedAdaptersAreRefused()
    {
        QFETCH(QString, problem);
        QFETCH(QString, phrase);
        QTemporaryDir folder;
        std::string adapter = pathIn(folder, "adapter");
        std::filesystem::create_directories(adapter);
        const std::vector<float> values(2 * 4, 0.25f); // [2, 4]
        nlohmann::json config = validConfig(2, 4);
        std::string tensorName = "prompt_embeddings";
        std::vector<std::int64_t> shape = {2, 4};
        sp::TensorDType dtype = sp::TensorDType::F32;
        bool writeWeights = true;
        if (problem == "lora")
            config["peft_type"] = "LORA";
        else if (problem == "seq2seq")
            config["task_type"] = "SEQ_2_SEQ_LM";
        else if (problem == "submodules")
            config["num_transformer_submodules"] = 2;
        else if (problem == "shape")
            config["num_virtual_tokens"] = 3;
        else if (problem == "pickle") {
            writeWeights = false;
            sp::writeTextFile(adapter + "/adapter_model.bin", "not really a pickle");
        } else if (problem == "no weights")
            writeWeights = false;
        else if (problem == "name")
            tensorName = "embedding.weight";
        else if (problem == "rank")
            shape = {1, 2, 4};
        else if (problem == "dtype")
            dtype = sp::TensorDType::I32;
        if (problem == "not json")
            sp::writeTextFile(adapter + "/adapter_config.json", "peft_type: PROMPT_TUNING");
        else if (problem != "no config")
            writeConfig(adapter, config);
        if (writeWeights)
            sp::writeSafetensors(adapter + "/adapter_model.safetensors",
                                 {{tensorName, dtype, shape, values.data()}}, {{"format", "pt"}});
        if (problem == "file") {
            adapter = pathIn(folder, "adapter/adapter_config.json");
            writeConfig(pathIn(folder, "adapter"), config);
        }

        try {
            sp::readPeftAdapter(adapter);
            QFAIL("expected sp::Error");
        } catch (const sp::Error& error) {
            QVERIFY2(QString::fromUtf8(error.what()).contains(phrase), error.what());
        }
        sp::RunStore store = sp::RunStore::open(pathIn(folder, "runs.sqlite"));
        QVERIFY_THROWS_EXCEPTION(sp::Error, store.importPeft(adapter));
        QVERIFY(store.listRuns().empty()); // nothing half-imported
    }

    void exportRefusesARunWithoutSigma()
    {
        QTemporaryDir folder;
        sp::RunStore store = sp::RunStore::open(pathIn(folder, "runs.sqlite"));
        auto writer = store.startRun(exampleRun("no sigma"));
        writer->finish(sp::RunStatus::Failed, "NaN at step 1");
        try {
            store.exportPeft(writer->runId(), pathIn(folder, "out"));
            QFAIL("expected sp::Error");
        } catch (const sp::Error& error) {
            QVERIFY2(QString(error.what()).contains("no σ checkpoint"), error.what());
        }
        QVERIFY(!std::filesystem::exists(pathIn(folder, "out/adapter_config.json")));
    }
};

QTEST_GUILESS_MAIN(TestStorePeft)
#include "test_store_peft.moc"
