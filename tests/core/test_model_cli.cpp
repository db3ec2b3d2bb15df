// ModelHandle with a real tokenizer (text in, text out) and the CLI contract on the real executable:
// generate, score --json, forward --out, bench model, and one-line errors.
#ifndef Q_MOC_RUN // moc needs none of these; following them into torch took it ~10 s a test
#include "model/causal_lm.h"
#include "softprompt/model_handle.h"
#include "softprompt/safetensors.h"
#include "test_model_support.h"

#include "../support/test_support.h"
#endif

#include <QDir>
#include <QFile>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <nlohmann/json.hpp>

#include <cmath>

using namespace modeltest;

namespace {

struct CliResult {
    int exitCode = -1;
    QString out;
    QString err;
};

CliResult runCli(const QStringList& arguments)
{
    QProcess process;
    process.start(QStringLiteral(SP_CLI_PATH), arguments);
    process.waitForFinished(120000);
    return {process.exitCode(), QString::fromUtf8(process.readAllStandardOutput()),
            QString::fromUtf8(process.readAllStandardError())};
}

} // namespace

class TestModelCli : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    QString folder_;

private Q_SLOTS:
    void initTestCase()
    {
        qputenv("XDG_CACHE_HOME", dir_.filePath("cache").toUtf8());
        SP_REQUIRE_SHARED_FIXTURE(tokenizer, "tokenizers/tinyllama-tokenizer.json");
        // A random Llama with TinyLlama's vocabulary, next to TinyLlama's tokenizer.json.
        sp::ModelConfig config = tinyLlama();
        config.vocabSize = 32000;
        config.bosTokenId = 1;
        config.eosTokenIds = {2};
        folder_ = dir_.filePath("tiny-llama");
        randomModel(config, 12)->save(folder_.toStdString());
        QVERIFY(QFile::copy(tokenizer, QDir(folder_).filePath("tokenizer.json")));
    }

    void scoreMatchesTheLogits()
    {
        if (folder_.isEmpty())
            QSKIP("needs the shared TinyLlama tokenizer fixture");
        const sp::ModelHandle model = sp::ModelHandle::load(folder_.toStdString());
        const std::string text = "The quick brown fox jumps over the lazy dog.";
        const std::vector<std::int32_t> ids = model.tokenizer().encode(text, true);
        QCOMPARE(ids.front(), 1); // the template adds BOS
        const auto scores = model.score(text, 3);
        QCOMPARE(scores.size(), ids.size());
        const std::vector<float> logits = model.logits(ids); // [T, V]
        const std::size_t vocab = logits.size() / ids.size();
        QCOMPARE(vocab, std::size_t(32000));
        for (std::size_t t = 0; t < ids.size(); ++t) {
            QCOMPARE(scores[t].token, ids[t]);
            QCOMPARE(scores[t].topK.size(), std::size_t(3));
            const float* row = logits.data() + t * vocab;
            const std::size_t best = std::size_t(std::max_element(row, row + vocab) - row);
            QCOMPARE(std::size_t(scores[t].topK[0].id), best);
            double normaliser = 0.0;
            for (std::size_t v = 0; v < vocab; ++v)
                normaliser += std::exp(double(row[v]) - double(row[best]));
            QVERIFY(std::abs(scores[t].topK[0].probability - 1.0 / normaliser) <= 1e-5);
            QVERIFY(scores[t].topK[0].probability >= scores[t].topK[1].probability);
            QVERIFY(scores[t].topK[1].probability >= scores[t].topK[2].probability);
        }
        std::string pieces;
        for (const auto& position : scores)
            pieces += position.text;
        QVERIFY2(pieces.find("quick brown fox") != std::string::npos, pieces.c_str());
    }

    void generateDecodesGreedyIds()
    {
        if (folder_.isEmpty())
            QSKIP("needs the shared TinyLlama tokenizer fixture");
        const sp::ModelHandle model = sp::ModelHandle::load(folder_.toStdString());
        const std::vector<std::int32_t> prompt = model.tokenizer().encode("Once upon a time", true);
        const std::vector<std::int32_t> generated = model.generateIds(prompt, 6);
        QVERIFY(!generated.empty() && generated.size() <= 6);
        QCOMPARE(model.generate("Once upon a time", 6), model.tokenizer().decode(generated, true));
        const CliResult cli =
            runCli({"generate", "--model", folder_, "--prompt", "Once upon a time", "--max-new", "6"});
        QCOMPARE(cli.exitCode, 0);
        QCOMPARE(cli.out, QString::fromStdString(model.generate("Once upon a time", 6)) + "\n");
    }

    void cliScoreJson()
    {
        if (folder_.isEmpty())
            QSKIP("needs the shared TinyLlama tokenizer fixture");
        const CliResult cli =
            runCli({"score", "--model", folder_, "--text", "Hello world", "--top-k", "5", "--json"});
        QCOMPARE(cli.exitCode, 0);
        const nlohmann::json result = nlohmann::json::parse(cli.out.toStdString());
        const sp::ModelHandle model = sp::ModelHandle::load(folder_.toStdString());
        const auto scores = model.score("Hello world", 5);
        QCOMPARE(result.at("positions").size(), scores.size());
        QCOMPARE(result.at("identity").get<std::string>(), model.summary().identity);
        for (std::size_t t = 0; t < scores.size(); ++t) {
            const nlohmann::json& position = result.at("positions")[t];
            QCOMPARE(position.at("token").get<int>(), scores[t].token);
            QCOMPARE(position.at("top_k").size(), std::size_t(5));
            QCOMPARE(position.at("top_k")[0].at("id").get<int>(), scores[t].topK[0].id);
            QVERIFY(std::abs(position.at("top_k")[0].at("probability").get<double>() -
                             scores[t].topK[0].probability) < 1e-12);
        }
    }

    void cliForwardWritesLogits()
    {
        if (folder_.isEmpty())
            QSKIP("needs the shared TinyLlama tokenizer fixture");
        const QString out = dir_.filePath("logits.safetensors");
        const CliResult cli =
            runCli({"forward", "--model", folder_, "--ids", "1,450,4996,17354", "--out", out});
        QCOMPARE(cli.exitCode, 0);
        const auto file = sp::SafetensorsFile::open(out.toStdString());
        const sp::TensorView& logits = file->tensor("logits");
        QCOMPARE(logits.dtype, sp::TensorDType::F32);
        QCOMPARE(logits.shape, (std::vector<std::int64_t>{4, 32000}));
        const std::vector<float> expected =
            sp::ModelHandle::load(folder_.toStdString()).logits({1, 450, 4996, 17354});
        QVERIFY(std::equal(expected.begin(), expected.end(), reinterpret_cast<const float*>(logits.data)));
    }

    void cliBenchPrintsJson()
    {
        if (folder_.isEmpty())
            QSKIP("needs the shared TinyLlama tokenizer fixture");
        const CliResult cli =
            runCli({"bench", "model", "--model", folder_, "--prefill", "64", "--decode", "4"});
        QCOMPARE(cli.exitCode, 0);
        const nlohmann::json result = nlohmann::json::parse(cli.out.toStdString());
        for (const char* key : {"load_seconds", "prefill_tokens_per_s", "prefill_gflop_per_s",
                                "gemm_gflop_per_s", "decode_tokens_per_s", "prefill_all_logits_tokens_per_s"})
            QVERIFY2(result.at(key).get<double>() > 0, key);
        QCOMPARE(result.at("prefill_tokens").get<int>(), 64);
        QCOMPARE(result.at("decode_tokens").get<int>(), 4);
    }

    void cliErrorsAreOneLine_data()
    {
        QTest::addColumn<QStringList>("arguments");
        QTest::addColumn<QString>("expected");
        QTest::newRow("missing folder")
            << QStringList{"generate", "--model", "/nonexistent", "--prompt", "x"} << "no such model folder";
        QTest::newRow("bad ids") << QStringList{"forward", "--model", "/nonexistent", "--ids",
                                                "1,x",     "--out",   "/tmp/x"}
                                 << "'x' is not an integer";
        QTest::newRow("unknown preset") << QStringList{"bench", "model", "--random", "gpt5"} << "smollm-135m";
        QTest::newRow("zero new tokens")
            << QStringList{"generate", "--model", "demo", "--prompt", "x", "--max-new", "0"} << "--max-new";
    }
    void cliErrorsAreOneLine()
    {
        QFETCH(QStringList, arguments);
        QFETCH(QString, expected);
        const CliResult cli = runCli(arguments);
        QCOMPARE(cli.exitCode, 1);
        QVERIFY2(cli.err.startsWith("softprompt: ") && cli.err.count('\n') == 1 && cli.err.contains(expected),
                 qPrintable(cli.err));
    }
};

QTEST_GUILESS_MAIN(TestModelCli)
#include "test_model_cli.moc"
