// Model folders (single file, sharded index, errors), atomic writes, the shared tiny GPT-2 fixture,
// and the soft-prompt bytes stored in the run database.
#include "../support/test_support.h"
#include "softprompt/error.h"
#include "softprompt/model_config.h"
#include "softprompt/safetensors.h"
#include "softprompt/soft_prompt.h"
#include "test_safetensors_util.h"

#include <QDir>
#include <QTemporaryDir>
#include <QtTest>

#include <fstream>
#include <numeric>

using sptest::safetensorsBytes;

namespace {

std::vector<float> ramp(int count, float start)
{
    std::vector<float> values(static_cast<std::size_t>(count));
    std::iota(values.begin(), values.end(), start);
    return values;
}

void writeText(const QString& path, const QByteArray& text)
{
    sptest::writeFile(path, text);
}

} // namespace

class TestSafetensorsCheckpoint : public QObject {
    Q_OBJECT

private:
    // Two shards and an index, as transformers' save_pretrained writes them.
    QString makeShardedFolder(QTemporaryDir& dir)
    {
        const std::vector<float> embed = ramp(6, 0), norm = ramp(2, 10), head = ramp(6, 20);
        const QString root = dir.path();
        sp::writeSafetensors(QDir(root).filePath("model-00001-of-00002.safetensors").toStdString(),
                             {{"model.embed_tokens.weight", sp::TensorDType::F32, {3, 2}, embed.data()},
                              {"model.norm.weight", sp::TensorDType::F32, {2}, norm.data()}},
                             {{"format", "pt"}});
        sp::writeSafetensors(QDir(root).filePath("model-00002-of-00002.safetensors").toStdString(),
                             {{"lm_head.weight", sp::TensorDType::F32, {3, 2}, head.data()}},
                             {{"format", "pt"}});
        writeText(QDir(root).filePath("model.safetensors.index.json"),
                  R"({"metadata": {"total_size": 56},
                      "weight_map": {"lm_head.weight": "model-00002-of-00002.safetensors",
                                     "model.embed_tokens.weight": "model-00001-of-00002.safetensors",
                                     "model.norm.weight": "model-00001-of-00002.safetensors"}})");
        return root;
    }

private slots:
    void loadsShardedCheckpoint()
    {
        QTemporaryDir dir;
        const QString root = makeShardedFolder(dir);
        const sp::SafetensorsCheckpoint checkpoint =
            sp::SafetensorsCheckpoint::openFolder(root.toStdString());
        QCOMPARE(checkpoint.files().size(), std::size_t(2));
        QCOMPARE(checkpoint.names().size(), std::size_t(3));
        QVERIFY(checkpoint.contains("lm_head.weight"));
        QVERIFY(!checkpoint.contains("model.layers.0.mlp.up_proj.weight"));
        const sp::TensorView& head = checkpoint.tensor("lm_head.weight");
        QCOMPARE(head.shape, (std::vector<std::int64_t>{3, 2}));
        QCOMPARE(reinterpret_cast<const float*>(head.data)[5], 25.0f);
        QCOMPARE(reinterpret_cast<const float*>(checkpoint.tensor("model.norm.weight").data)[1], 11.0f);
        SP_EXPECT_ERROR(checkpoint.tensor("model.layers.0.mlp.up_proj.weight"),
                        (QStringList{"model.layers.0.mlp.up_proj.weight", "no tensor named"}));
    }

    void missingShardIsNamed()
    {
        QTemporaryDir dir;
        const QString root = makeShardedFolder(dir);
        QVERIFY(QFile::remove(QDir(root).filePath("model-00002-of-00002.safetensors")));
        SP_EXPECT_ERROR(sp::SafetensorsCheckpoint::openFolder(root.toStdString()),
                        (QStringList{"model.safetensors.index.json", "model-00002-of-00002.safetensors",
                                     "does not exist", "lm_head.weight"}));
    }

    void indexAndShardDisagree()
    {
        QTemporaryDir dir;
        const QString root = makeShardedFolder(dir);
        writeText(QDir(root).filePath("model.safetensors.index.json"),
                  R"({"weight_map": {"lm_head.weight": "model-00001-of-00002.safetensors"}})");
        SP_EXPECT_ERROR(sp::SafetensorsCheckpoint::openFolder(root.toStdString()),
                        (QStringList{"tensor \"lm_head.weight\" is in model-00001-of-00002.safetensors",
                                     "no such tensor"}));
    }

    void sameTensorInTwoShards()
    {
        QTemporaryDir dir;
        const QString root = makeShardedFolder(dir);
        const std::vector<float> stray = ramp(2, 0);
        // A shard that holds model.norm.weight again, outside the index.
        sp::writeSafetensors(QDir(root).filePath("model-00002-of-00002.safetensors").toStdString(),
                             {{"lm_head.weight", sp::TensorDType::F32, {3, 2}, ramp(6, 0).data()},
                              {"model.norm.weight", sp::TensorDType::F32, {2}, stray.data()}});
        SP_EXPECT_ERROR(sp::SafetensorsCheckpoint::openFolder(root.toStdString()),
                        (QStringList{"\"model.norm.weight\"", "also in", "once"}));
    }

    void badIndexFiles_data()
    {
        QTest::addColumn<QByteArray>("index");
        QTest::addColumn<QStringList>("expected");
        QTest::newRow("not JSON") << QByteArray("{\"weight_map\": ") << QStringList{"not valid JSON"};
        QTest::newRow("no weight_map")
            << QByteArray(R"({"metadata": {}})") << QStringList{"no \"weight_map\""};
        QTest::newRow("empty weight_map") << QByteArray(R"({"weight_map": {}})") << QStringList{"empty"};
        QTest::newRow("shard outside the folder")
            << QByteArray(R"({"weight_map": {"w": "../elsewhere.safetensors"}})")
            << QStringList{"\"w\"", "../elsewhere.safetensors", "not a file name in the model folder"};
        QTest::newRow("shard not a string")
            << QByteArray(R"({"weight_map": {"w": 3}})") << QStringList{"\"w\"", "must be a file name"};
    }

    void badIndexFiles()
    {
        QFETCH(QByteArray, index);
        QFETCH(QStringList, expected);
        QTemporaryDir dir;
        const QString indexPath = QDir(dir.path()).filePath("model.safetensors.index.json");
        writeText(indexPath, index);
        SP_EXPECT_ERROR(sp::SafetensorsCheckpoint::openFolder(dir.path().toStdString()),
                        expected + QStringList{indexPath});
    }

    void singleFileFolderAndFilePath()
    {
        QTemporaryDir dir;
        const std::vector<float> weight = ramp(4, 1);
        const QString file = QDir(dir.path()).filePath("model.safetensors");
        sp::writeSafetensors(file.toStdString(), {{"w", sp::TensorDType::F32, {4}, weight.data()}});
        for (const QString& where : {dir.path(), file}) {
            const auto checkpoint = sp::SafetensorsCheckpoint::openFolder(where.toStdString());
            QCOMPARE(checkpoint.files(), std::vector<std::string>{file.toStdString()});
            QCOMPARE(reinterpret_cast<const float*>(checkpoint.tensor("w").data)[3], 4.0f);
        }
    }

    void folderWithoutWeights()
    {
        QTemporaryDir dir;
        SP_EXPECT_ERROR(sp::SafetensorsCheckpoint::openFolder(dir.path().toStdString()),
                        (QStringList{dir.path(), "no model.safetensors or model.safetensors.index.json"}));
        writeText(QDir(dir.path()).filePath("pytorch_model.bin"), "not read");
        SP_EXPECT_ERROR(sp::SafetensorsCheckpoint::openFolder(dir.path().toStdString()),
                        (QStringList{"convert the PyTorch .bin weights"}));
        SP_EXPECT_ERROR(
            sp::SafetensorsCheckpoint::openFolder(QDir(dir.path()).filePath("nope").toStdString()),
            (QStringList{"nope", "is not a model folder"}));
    }

    // ---- writing --------------------------------------------------------------------------------

    void writeReplacesAtomically()
    {
        QTemporaryDir dir;
        const std::string path = QDir(dir.path()).filePath("sigma.safetensors").toStdString();
        const std::vector<float> first = ramp(4, 1), second = ramp(4, 100);
        sp::writeSafetensors(path, {{"w", sp::TensorDType::F32, {4}, first.data()}});
        // A reader that still maps the old file keeps seeing the old bytes after the rewrite, as
        // with the reference's temp-file-and-rename writer.
        const auto before = sp::SafetensorsFile::open(path);
        sp::writeSafetensors(path, {{"w", sp::TensorDType::F32, {4}, second.data()}});
        QCOMPARE(reinterpret_cast<const float*>(before->tensor("w").data)[0], 1.0f);
        QCOMPARE(reinterpret_cast<const float*>(sp::SafetensorsFile::open(path)->tensor("w").data)[0],
                 100.0f);
        // No temporary file is left behind.
        QCOMPARE(QDir(dir.path()).entryList(QDir::Files | QDir::Hidden), QStringList{"sigma.safetensors"});
    }

    void writeIntoMissingFolderFails()
    {
        QTemporaryDir dir;
        const QString path = QDir(dir.path()).filePath("absent/sigma.safetensors");
        const float value = 1;
        SP_EXPECT_ERROR(sp::writeSafetensors(path.toStdString(), {{"w", sp::TensorDType::F32, {1}, &value}}),
                        (QStringList{path, "temporary file"}));
    }

    // ---- the shared tiny GPT-2 ------------------------------------------------------------------

    void readsTinyGpt2Fixture()
    {
        SP_REQUIRE_SHARED_FIXTURE(folder, "hf-tiny/tiny-random-gpt2");
        const sp::ModelConfig config = sp::ModelConfig::fromFile(folder.toStdString());
        QCOMPARE(config.modelType, std::string("gpt2"));
        QCOMPARE(config.hiddenSize, std::int64_t(32));
        QCOMPARE(config.numLayers, std::int64_t(5));
        QCOMPARE(config.numHeads, std::int64_t(4));
        QCOMPARE(config.intermediateSize, std::int64_t(128)); // n_inner null: 4 * n_embd
        QCOMPARE(config.padTokenId, std::optional<std::int64_t>(98));

        const auto checkpoint = sp::SafetensorsCheckpoint::openFolder(folder.toStdString());
        const auto file = sp::SafetensorsFile::open(checkpoint.files().front());
        QCOMPARE(file->alignedCopyCount(), std::size_t(0));
        // Every weight the config implies is there, once: the element total is the parameter count.
        std::int64_t elements = 0;
        for (const std::string& name : checkpoint.names()) {
            const sp::TensorView& view = checkpoint.tensor(name);
            QCOMPARE(view.dtype, sp::TensorDType::F32);
            elements += view.elementCount();
        }
        QCOMPARE(elements, config.parameterCount());
        QCOMPARE(checkpoint.names().size(), std::size_t(2 + 12 * 5 + 2));
        QCOMPARE(checkpoint.tensor("transformer.wte.weight").shape, (std::vector<std::int64_t>{1000, 32}));
        QCOMPARE(checkpoint.tensor("transformer.wpe.weight").shape, (std::vector<std::int64_t>{512, 32}));
        QCOMPARE(checkpoint.tensor("transformer.h.4.attn.c_attn.weight").shape,
                 (std::vector<std::int64_t>{32, 96})); // Conv1D: [in, out]
        QCOMPARE(checkpoint.tensor("transformer.h.0.mlp.c_fc.weight").shape,
                 (std::vector<std::int64_t>{32, 128}));
        // The fixture's README: every LayerNorm weight is 1 and every bias 0.
        const sp::TensorView& gain = checkpoint.tensor("transformer.h.2.ln_1.weight");
        const sp::TensorView& bias = checkpoint.tensor("transformer.ln_f.bias");
        for (int i = 0; i < 32; ++i) {
            QCOMPARE(reinterpret_cast<const float*>(gain.data)[i], 1.0f);
            QCOMPARE(reinterpret_cast<const float*>(bias.data)[i], 0.0f);
        }
        // The embedding is random, not zeros.
        const sp::TensorView& wte = checkpoint.tensor("transformer.wte.weight");
        const float* wteValues = reinterpret_cast<const float*>(wte.data);
        QVERIFY(std::any_of(wteValues, wteValues + wte.elementCount(), [](float v) { return v != 0.0f; }));
    }

    // ---- soft prompts ---------------------------------------------------------------------------

    void softPromptRoundTrips()
    {
        sp::SoftPrompt sigma;
        sigma.k = 3;
        sigma.dim = 5;
        sigma.values = ramp(15, -7.25f);
        const std::string bytes = sp::softPromptToSafetensors(sigma, {{"model", "gpt2"}, {"step", "120"}});
        const auto file = sp::SafetensorsFile::fromBytes(bytes, "mem");
        QCOMPARE(file->names(), std::vector<std::string>{"prompt_embeddings"});
        QCOMPARE(file->metadata(),
                 (std::map<std::string, std::string>{{"format", "pt"}, {"model", "gpt2"}, {"step", "120"}}));
        QCOMPARE(file->tensor("prompt_embeddings").shape, (std::vector<std::int64_t>{3, 5}));

        const sp::SoftPrompt back = sp::softPromptFromSafetensors(bytes, "runs.sqlite:run 4");
        QCOMPARE(back.k, 3);
        QCOMPARE(back.dim, 5);
        QCOMPARE(back.values, sigma.values);
    }

    void softPromptRejections()
    {
        const float value = 1;
        const std::string other =
            sp::serializeSafetensors({{"weights", sp::TensorDType::F32, {1, 1}, &value}});
        SP_EXPECT_ERROR(sp::softPromptFromSafetensors(other, "run 4"),
                        (QStringList{"run 4", "not a soft prompt", "prompt_embeddings"}));
        const std::uint16_t half = 0x3C00;
        const std::string wrongType =
            sp::serializeSafetensors({{"prompt_embeddings", sp::TensorDType::F16, {1, 1}, &half}});
        SP_EXPECT_ERROR(sp::softPromptFromSafetensors(wrongType, "run 5"),
                        (QStringList{"run 5", "F32 [k, d]", "F16"}));
        const std::string wrongRank =
            sp::serializeSafetensors({{"prompt_embeddings", sp::TensorDType::F32, {1}, &value}});
        SP_EXPECT_ERROR(sp::softPromptFromSafetensors(wrongRank, "run 6"), (QStringList{"run 6", "rank 1"}));
        SP_EXPECT_ERROR(sp::softPromptFromSafetensors("garbage", "run 7"),
                        (QStringList{"run 7", "too short"}));

        sp::SoftPrompt inconsistent;
        inconsistent.k = 2;
        inconsistent.dim = 3;
        inconsistent.values = {1, 2};
        SP_EXPECT_ERROR(sp::softPromptToSafetensors(inconsistent), (QStringList{"2 values", "6"}));
    }

    void runStatusKeys()
    {
        QStringList seen;
        for (sp::RunStatus status :
             {sp::RunStatus::Running, sp::RunStatus::Finished, sp::RunStatus::Cancelled,
              sp::RunStatus::Failed, sp::RunStatus::Interrupted}) {
            const std::string key = sp::runStatusKey(status);
            QCOMPARE(sp::runStatusFromKey(key), status);
            seen << QString::fromStdString(key);
        }
        QCOMPARE(seen, (QStringList{"running", "finished", "cancelled", "failed", "interrupted"}));
        SP_EXPECT_ERROR(sp::runStatusFromKey("paused"), (QStringList{"\"paused\"", "running"}));
    }
};

QTEST_GUILESS_MAIN(TestSafetensorsCheckpoint)
#include "test_safetensors_checkpoint.moc"
