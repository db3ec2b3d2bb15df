// `softprompt generate --run ID | --sigma FILE` and `softprompt eval --run ID --coverage`, run as the
// real executable on the demo model: a short run is trained by the CLI on a short context, then σ
// is asked from the database and from an exported file (the same answer), sampling repeats with
// its seed, and the coverage map comes back as JSON.
#include "softprompt/coverage.h"
#include "softprompt/paths.h"
#include "softprompt/playground.h"
#include "softprompt/run_store.h"

#include <QFile>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <nlohmann/json.hpp>

namespace {

struct CliResult {
    int exitCode = -1;
    QByteArray out;
    QString err;
    nlohmann::json json() const { return nlohmann::json::parse(out.toStdString()); }
};

CliResult runCli(const QStringList& arguments)
{
    QProcess process;
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.insert("OMP_NUM_THREADS", "1");
    process.setProcessEnvironment(environment);
    process.start(SP_CLI_PATH, arguments);
    process.waitForStarted();
    if (!process.waitForFinished(600000))
        process.kill();
    CliResult result;
    result.exitCode = process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1;
    result.out = process.readAllStandardOutput();
    result.err = QString::fromUtf8(process.readAllStandardError());
    return result;
}

// The persona, one reply rule and one fact among filler: short enough for a quick run.
const char* const kContext = "You answer chats for Maplefield Motors. Begin every reply with the word Ahoy. "
                             "Opening hours change on public holidays. Our brand colour is teal. Gift cards "
                             "are valid for 24 months. Never guess an order number; look it up.\n";
const char* const kQuestion = "User: What is the brand colour?\nAssistant:";

} // namespace

class TestGenerateCli : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase()
    {
        try {
            model_ = sp::ModelHandle::load("demo");
        } catch (const std::exception& error) {
            QSKIP(qPrintable(QStringLiteral("the demo model is not available: %1").arg(error.what())));
        }
        QVERIFY(dir_.isValid());
        db_ = dir_.filePath("runs.sqlite");
        QFile context(dir_.filePath("context.txt"));
        QVERIFY(context.open(QIODevice::WriteOnly));
        context.write(kContext);
        context.close();
        QFile queries(dir_.filePath("queries.jsonl"));
        QVERIFY(queries.open(QIODevice::WriteOnly));
        for (const char* query : {"What is the brand colour?", "Which colour is the logo?", "Tell me the colour.",
                                  "Who am I talking to?"})
            queries.write((nlohmann::json{{"query", std::string("User: ") + query + "\nAssistant:"}}.dump() + "\n").c_str());
        queries.close();
        const CliResult train = runCli({"train", "--model", "demo", "--context", dir_.filePath("context.txt"),
                                        "--queries", dir_.filePath("queries.jsonl"), "--k", "4", "--steps", "8",
                                        "--target", "continuation", "--length", "4", "--format", "plain",
                                        "--db", db_, "--json"}); // the playground's layout
        QVERIFY2(train.exitCode == 0, qPrintable(train.err));
        runId_ = train.json().at("run_id").get<qint64>();
    }

    // σ from the database and σ from an exported file give the same tokens, the ones core's
    // Playground generates; --condition all answers under the three conditions.
    void generateWithStoredAndExportedSigma()
    {
        const CliResult fromRun = runCli({"generate", "--run", QString::number(runId_), "--db", db_, "--prompt",
                                          kQuestion, "--condition", "all", "--json", "--max-new", "8"});
        QVERIFY2(fromRun.exitCode == 0, qPrintable(fromRun.err));
        const nlohmann::json run = fromRun.json();
        for (const char* key : {"full", "sigma", "none"})
            QVERIFY2(run.at("conditions").contains(key), key);
        QCOMPARE(run.at("format").get<std::string>(), std::string("plain")); // the run's own format

        const QString sigmaFile = dir_.filePath("sigma.safetensors");
        QCOMPARE(runCli({"runs", "export", QString::number(runId_), "--db", db_, "--sigma", sigmaFile}).exitCode, 0);
        // A σ file carries no format: say the one it was trained in (auto would be the demo's template).
        const CliResult fromFile = runCli({"generate", "--model", "demo", "--sigma", sigmaFile, "--prompt", kQuestion,
                                           "--format", "plain", "--json", "--max-new", "8"});
        QVERIFY2(fromFile.exitCode == 0, qPrintable(fromFile.err));
        const nlohmann::json file = fromFile.json();
        QCOMPARE(file.at("conditions").size(), std::size_t(1)); // σ alone by default
        QCOMPARE(file["conditions"]["sigma"]["tokens"].dump(), run["conditions"]["sigma"]["tokens"].dump());

        sp::Playground playground(model_, kContext);
        playground.setSigma(sp::RunStore::open(db_.toStdString()).loadSigma(runId_));
        sp::SamplingSettings settings;
        settings.maxNewTokens = 8;
        for (sp::Condition condition : sp::playgroundConditions()) {
            const sp::Generation expected = playground.generate(condition, {}, kQuestion, settings);
            const nlohmann::json& actual = run["conditions"][sp::conditionKey(condition)];
            QCOMPARE(actual.at("text").get<std::string>(), expected.text);
            QCOMPARE(actual.at("tokens").size(), expected.tokens.size());
            QCOMPARE(actual["tokens"][0]["top_k"].size(), std::size_t(5));
        }

        // Text output streams the answer without the end-of-text token.
        const CliResult text = runCli({"generate", "--run", QString::number(runId_), "--db", db_, "--prompt", kQuestion,
                                       "--max-new", "8"});
        QCOMPARE(QString::fromUtf8(text.out).trimmed(), QString::fromStdString(run["conditions"]["sigma"]["text"]).trimmed());
    }

    void samplingRepeatsWithItsSeed()
    {
        const QStringList arguments{"generate", "--run",  QString::number(runId_), "--db", db_,      "--prompt",
                                    kQuestion,  "--sample", "--temperature", "1.5", "--seed", "11", "--json",
                                    "--condition", "none", "--max-new", "12"};
        const CliResult first = runCli(arguments);
        const CliResult again = runCli(arguments);
        QVERIFY2(first.exitCode == 0, qPrintable(first.err));
        QCOMPARE(again.json()["conditions"].dump(), first.json()["conditions"].dump());
        QCOMPARE(first.json().at("seed").get<int>(), 11);
    }

    void errorsSayWhatToDo_data()
    {
        QTest::addColumn<QStringList>("arguments");
        QTest::addColumn<QString>("expected");
        QTest::newRow("nothing to condition on") << QStringList{"generate", "--model", "demo", "--prompt", "x", "--json"}
                                                 << "give --run ID, --sigma FILE or --context FILE";
        QTest::newRow("unknown condition") << QStringList{"generate", "--model", "demo", "--context", "/dev/null",
                                                          "--prompt", "x", "--condition", "first_k"}
                                           << "use sigma, full, none or all";
        QTest::newRow("sigma without model") << QStringList{"generate", "--sigma", "x.safetensors", "--prompt", "x"}
                                             << "need --model";
    }
    void errorsSayWhatToDo()
    {
        QFETCH(QStringList, arguments);
        QFETCH(QString, expected);
        const CliResult result = runCli(arguments);
        QVERIFY(result.exitCode != 0);
        QVERIFY2(result.err.contains(expected), qPrintable(result.err));
    }

    // eval --coverage: one unit per sentence of the run's context, with its summary; the rule
    // sentences of this context matter, and σ's distance is reported for every query.
    void coverageAsJson()
    {
        const CliResult result = runCli({"eval", "--run", QString::number(runId_), "--db", db_, "--coverage"});
        QVERIFY2(result.exitCode == 0, qPrintable(result.err));
        const nlohmann::json json = result.json();
        const std::vector<sp::TextSpan> spans = sp::splitContextUnits(kContext, sp::CoverageUnitKind::Sentence);
        QCOMPARE(json.at("units").size(), spans.size());
        QCOMPARE(json.at("sigma_kl").size(), std::size_t(4));
        QVERIFY(json.at("has_sigma").get<bool>());
        const sp::CoverageMap map = sp::CoverageMap::fromJson(json);
        QCOMPARE(map.units[1].text, std::string("Begin every reply with the word Ahoy."));
        QVERIFY2(!map.units[1].mattersFor.empty(), json["units"][1].dump().c_str());
        QVERIFY(json["units"][1].at("summary").get<std::string>().find("matters to") == 0);
        QVERIFY(json.at("units_that_matter").get<int>() >= 1);
    }

private:
    sp::ModelHandle model_;
    QTemporaryDir dir_;
    QString db_;
    qint64 runId_ = 0;
};

QTEST_GUILESS_MAIN(TestGenerateCli)
#include "test_generate_cli.moc"
