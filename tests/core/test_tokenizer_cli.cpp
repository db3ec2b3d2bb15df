// The CLI contract that other tools call exactly so:
//   softprompt tokenize --tokenizer PATH --jsonl FILE [--add-special]
//   softprompt tokenize --tokenizer PATH --text "..." [--add-special] [--json]
//   softprompt detokenize --tokenizer PATH --ids 1,2,3
//   softprompt bench tokenizer [--tokenizer PATH]
// Expected ids come from the golden conformance set (transformers' own output), not from the library.
#include "test_tokenizer_support.h"

#include <nlohmann/json.hpp>

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

namespace {

using nlohmann::json;

struct Run {
    int exitCode = -1;
    bool crashed = true;
    QByteArray out;
    QByteArray err;
};

Run runCli(const QStringList& arguments, const QByteArray& cacheDir = QByteArray())
{
    QProcess process;
    if (!cacheDir.isEmpty()) {
        QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
        environment.insert(QStringLiteral("SP_TOKENIZER_CACHE"), QString::fromUtf8(cacheDir));
        process.setProcessEnvironment(environment);
    }
    process.start(QStringLiteral(SP_CLI_PATH), arguments);
    Run run;
    if (!process.waitForFinished(120000))
        return run;
    run.crashed = process.exitStatus() != QProcess::NormalExit;
    run.exitCode = process.exitCode();
    run.out = process.readAllStandardOutput();
    run.err = process.readAllStandardError();
    return run;
}

// The first conformance entries of TinyLlama (the golden ids include <s>: add_special_tokens=True).
json tinyllamaGolden(std::size_t count, std::vector<std::string>& texts)
{
    const json inputs =
        json::parse(sptest::readFileBytes(sptest::sharedFixture("tokenizers/conformance/inputs.json")));
    const json golden = json::parse(
        sptest::readFileBytes(sptest::sharedFixture("tokenizers/conformance/tinyllama_multilingual.json")));
    json entries = json::array();
    for (std::size_t i = 0; i < count; ++i) {
        const json& entry = golden.at("entries").at(i);
        for (const json& input : inputs)
            if (input.at("id") == entry.at("id"))
                texts.push_back(input.at("text").get<std::string>());
        entries.push_back(entry);
    }
    return entries;
}

} // namespace

class TokenizerCliTest : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void tokenizeText()
    {
        SP_REQUIRE_SHARED_FIXTURE(path, QStringLiteral("tokenizers/tinyllama-tokenizer.json"));
        std::vector<std::string> texts;
        const json golden = tinyllamaGolden(1, texts);
        QCOMPARE(texts.size(), std::size_t{1});
        const QString text = QString::fromStdString(texts[0]);

        const Run plain = runCli({"tokenize", "--tokenizer", path, "--text", text, "--add-special"});
        QVERIFY2(!plain.crashed && plain.exitCode == 0, plain.err.constData());
        QCOMPARE(json::parse(plain.out.toStdString()), golden[0].at("input_ids"));

        const Run detailed =
            runCli({"tokenize", "--tokenizer", path, "--text", text, "--add-special", "--json"});
        QCOMPARE(detailed.exitCode, 0);
        const json result = json::parse(detailed.out.toStdString());
        QCOMPARE(result.at("ids"), golden[0].at("input_ids"));
        QCOMPARE(result.at("tokens"), golden[0].at("tokens"));

        // Without --add-special there is no <s>; the rest is unchanged.
        const json withoutBos =
            json::parse(runCli({"tokenize", "--tokenizer", path, "--text", text}).out.toStdString());
        QCOMPARE(withoutBos.size() + 1, golden[0].at("input_ids").size());
        QCOMPARE(withoutBos[0], golden[0].at("input_ids")[1]);
    }

    void tokenizeJsonl()
    {
        SP_REQUIRE_SHARED_FIXTURE(path, QStringLiteral("tokenizers/tinyllama-tokenizer.json"));
        std::vector<std::string> texts;
        const json golden = tinyllamaGolden(6, texts);
        QTemporaryDir dir;
        QFile file(dir.filePath("input.jsonl"));
        QVERIFY(file.open(QIODevice::WriteOnly));
        for (const std::string& text : texts)
            file.write(QByteArray::fromStdString(json(text).dump() + "\n"));
        file.close();

        // The folder form of --tokenizer is checked with a copy named tokenizer.json.
        QVERIFY(QFile::copy(path, dir.filePath("tokenizer.json")));
        const Run run =
            runCli({"tokenize", "--tokenizer", dir.path(), "--jsonl", file.fileName(), "--add-special"});
        QVERIFY2(!run.crashed && run.exitCode == 0, run.err.constData());
        const QList<QByteArray> lines = run.out.trimmed().split('\n');
        QCOMPARE(lines.size(), static_cast<int>(texts.size()));
        for (int i = 0; i < lines.size(); ++i)
            QCOMPARE(json::parse(lines[i].toStdString()),
                     golden[static_cast<std::size_t>(i)].at("input_ids"));
    }

    void detokenize()
    {
        SP_REQUIRE_SHARED_FIXTURE(path, QStringLiteral("tokenizers/tinyllama-tokenizer.json"));
        std::vector<std::string> texts;
        const json entry = tinyllamaGolden(2, texts)[1];
        QStringList ids;
        for (const json& id : entry.at("input_ids"))
            ids << QString::number(id.get<int>());
        const Run run = runCli({"detokenize", "--tokenizer", path, "--ids", ids.join(',')});
        QVERIFY2(!run.crashed && run.exitCode == 0, run.err.constData());
        QCOMPARE(QString::fromUtf8(run.out).chopped(1),
                 QString::fromStdString(entry.at("decoded_with_special").get<std::string>()));
        const Run skipped =
            runCli({"detokenize", "--tokenizer", path, "--ids", ids.join(','), "--skip-special", "--json"});
        QCOMPARE(json::parse(skipped.out.toStdString()).at("text"), entry.at("decoded_skip_special"));
    }

    // A bad file or argument: exit status 1 and exactly one line on stderr, never a crash.
    void badInputs_data()
    {
        QTest::addColumn<QString>("contents"); // written to a file first, when not empty
        QTest::addColumn<QStringList>("arguments");
        QTest::addColumn<QString>("message");
        const QString file = QStringLiteral("@FILE@");
        QTest::newRow("missing file")
            << QString() << QStringList{"tokenize", "--tokenizer", "/no/such/tokenizer.json", "--text", "x"}
            << "no such file";
        QTest::newRow("truncated JSON")
            << "{\"model\": {\"type\": \"BPE\", \"vocab\": {"
            << QStringList{"tokenize", "--tokenizer", file, "--text", "x"} << "is not valid JSON";
        QTest::newRow("bad merge") << R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a q"]}})"
                                   << QStringList{"tokenize", "--tokenizer", file, "--text", "a"}
                                   << "not in model.vocab";
        const QString good = R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": []}})";
        QTest::newRow("id out of range")
            << good << QStringList{"detokenize", "--tokenizer", file, "--ids", "0,7"} << "token id 7";
        QTest::newRow("text and jsonl")
            << good << QStringList{"tokenize", "--tokenizer", file, "--text", "a", "--jsonl", "-"}
            << "exactly one of --jsonl FILE or --text TEXT";
    }
    void badInputs()
    {
        QFETCH(QString, contents);
        QFETCH(QStringList, arguments);
        QFETCH(QString, message);
        QTemporaryDir dir;
        const QString path = dir.filePath("tokenizer.json");
        if (!contents.isEmpty()) {
            QFile file(path);
            QVERIFY(file.open(QIODevice::WriteOnly));
            file.write(contents.toUtf8());
        }
        arguments.replaceInStrings(QStringLiteral("@FILE@"), path);
        const Run run = runCli(arguments);
        QVERIFY2(!run.crashed, "the CLI crashed");
        QCOMPARE(run.exitCode, 1);
        QVERIFY(run.out.isEmpty());
        const QString error = QString::fromUtf8(run.err);
        QCOMPARE(error.count(QLatin1Char('\n')), 1);
        QVERIFY2(error.startsWith(QStringLiteral("softprompt: ")) && error.contains(message),
                 qPrintable(error));
    }

    void jsonlLineThatIsNotAString()
    {
        QTemporaryDir dir;
        QFile tokenizer(dir.filePath("tokenizer.json"));
        QVERIFY(tokenizer.open(QIODevice::WriteOnly));
        tokenizer.write(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})");
        tokenizer.close();
        QFile input(dir.filePath("in.jsonl"));
        QVERIFY(input.open(QIODevice::WriteOnly));
        input.write("\"a\"\n{\"text\": \"a\"}\n");
        input.close();
        const Run run =
            runCli({"tokenize", "--tokenizer", tokenizer.fileName(), "--jsonl", input.fileName()});
        QCOMPARE(run.exitCode, 1);
        QVERIFY2(run.err.contains("line 2 holds a JSON object"), run.err.constData());
    }

    // The benchmark's JSON, with the reference engine unavailable (an empty cache folder): the
    // C++ side is still measured and the report says why there is no ratio.
    void benchReportsWithoutReference()
    {
        SP_REQUIRE_SHARED_FIXTURE(path, QStringLiteral("tokenizers/tinyllama-tokenizer.json"));
        QTemporaryDir emptyCache;
        const Run run =
            runCli({"bench", "tokenizer", "--tokenizer", path, "--megabytes", "0.05", "--repeats", "1"},
                   emptyCache.path().toUtf8());
        QVERIFY2(!run.crashed && run.exitCode == 0, run.err.constData());
        const json report = json::parse(run.out.toStdString());
        QCOMPARE(report.at("text_bytes").get<int>(), 50000);
        QVERIFY(report.at("tokens").get<int>() > 5000);
        QVERIFY(report.at("cpp").at("mb_per_s").get<double>() > 0.0);
        QCOMPARE(report.at("reference").at("available").get<bool>(), false);
        QVERIFY(!report.at("reference").at("reason").get<std::string>().empty());
        QVERIFY(!report.contains("speedup_vs_reference"));
    }

    // With the reference engine installed, the same run measures it and both give the same ids.
    void benchAgainstReference()
    {
        SP_REQUIRE_REFERENCE_FILE(gpt2, sptest::referenceTokenizerPath(QStringLiteral("gpt2")));
        const Run run = runCli({"bench", "tokenizer", "--megabytes", "0.1", "--repeats", "1"},
                               sptest::tokenizerCacheDir().toUtf8());
        QVERIFY2(!run.crashed && run.exitCode == 0, run.err.constData());
        const json report = json::parse(run.out.toStdString());
        QCOMPARE(report.at("description").get<std::string>(), std::string("gpt2-bytelevel"));
        QVERIFY2(report.at("reference").at("available").get<bool>(), report.dump().c_str());
        QVERIFY(report.at("reference").at("same_ids").get<bool>());
        QVERIFY(report.at("per_paragraph").at("same_ids").get<bool>());
        QVERIFY(report.at("per_paragraph").at("speedup_vs_reference").get<double>() > 0.0);
        QVERIFY(report.at("speedup_vs_reference").get<double>() > 0.0);
    }
};

QTEST_GUILESS_MAIN(TokenizerCliTest)
#include "test_tokenizer_cli.moc"
