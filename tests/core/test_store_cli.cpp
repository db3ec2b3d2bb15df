// The `softprompt runs ...` and `softprompt bench store` commands, run as the real executable.
#include "store_support/store_test_util.h"
#include "test_support.h"

#include "softprompt/error.h"
#include "softprompt/paths.h"
#include "softprompt/run_store.h"

#include <QProcess>
#include <QProcessEnvironment>
#include <QTemporaryDir>
#include <QtTest>

#include <csignal>
#include <cstring>
#include <thread>

#include <signal.h>

using namespace storetest;

namespace {

struct CliResult {
    int exitCode = -1;
    QByteArray out;
    QByteArray err;
};

CliResult runCli(const QStringList& arguments,
                 const QProcessEnvironment& environment = QProcessEnvironment::systemEnvironment())
{
    QProcess process;
    process.setProcessEnvironment(environment);
    process.start(SP_CLI_PATH, arguments);
    CliResult result;
    if (!process.waitForFinished(120000)) {
        process.kill();
        process.waitForFinished();
    }
    result.exitCode = process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1;
    result.out = process.readAllStandardOutput();
    result.err = process.readAllStandardError();
    return result;
}

nlohmann::json parseJson(const QByteArray& bytes)
{
    return nlohmann::json::parse(bytes.toStdString());
}

// A GPT-2 byte-level tokenizer.json with the 256 byte tokens and no merges: enough to drive a real
// model whose own tokenizer is not shipped with the fixture.
std::string byteLevelTokenizerJson()
{
    std::vector<int> bytes, characters;
    for (int b = 0; b < 256; ++b)
        if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) {
            bytes.push_back(b);
            characters.push_back(b);
        }
    int extra = 0;
    for (int b = 0; b < 256; ++b)
        if (std::find(bytes.begin(), bytes.end(), b) == bytes.end()) {
            bytes.push_back(b);
            characters.push_back(256 + extra++);
        }
    nlohmann::json vocab = nlohmann::json::object();
    for (std::size_t i = 0; i < bytes.size(); ++i)
        vocab[QString(QChar(characters[i])).toStdString()] = bytes[i];
    const nlohmann::json byteLevel = {
        {"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
    return nlohmann::json{{"version", "1.0"},
                          {"truncation", nullptr},
                          {"padding", nullptr},
                          {"added_tokens", nlohmann::json::array()},
                          {"normalizer", nullptr},
                          {"pre_tokenizer", byteLevel},
                          {"post_processor", byteLevel},
                          {"decoder", byteLevel},
                          {"model",
                           {{"type", "BPE"},
                            {"dropout", nullptr},
                            {"unk_token", nullptr},
                            {"continuing_subword_prefix", ""},
                            {"end_of_word_suffix", ""},
                            {"fuse_unk", false},
                            {"byte_fallback", false},
                            {"vocab", vocab},
                            {"merges", nlohmann::json::array()}}}}
        .dump();
}

// A model folder: the shared tiny random GPT-2 (config and weights) with that tokenizer, plus a
// context and queries to train on.
void writeTrainingInputs(const QString& folder, const QString& fixture)
{
    QDir(folder).mkpath("model");
    for (const char* name : {"config.json", "model.safetensors"})
        QVERIFY(QFile::copy(QDir(fixture).filePath(name), folder + "/model/" + name));
    sp::writeTextFile((folder + "/model/tokenizer.json").toStdString(), byteLevelTokenizerJson());
    sp::writeTextFile((folder + "/context.txt").toStdString(),
                      "You are a pirate. Always answer like a pirate, with arr and matey, and never mention "
                      "computers or the modern world.\n");
    sp::writeTextFile((folder + "/queries.jsonl").toStdString(),
                      "{\"query\": \"What is your name?\"}\n{\"query\": \"Where do you live?\"}\n"
                      "{\"query\": \"What do you eat?\"}\n{\"query\": \"How old are you?\"}\n"
                      "{\"query\": \"What is the weather like?\"}\n");
}

// `softprompt train` comes from the engine's command file; until it is built there is nothing to test.
#define SP_REQUIRE_TRAIN_COMMAND()                                                                           \
    if (runCli({"train", "--help"}).exitCode != 0)                                                           \
    QSKIP("this softprompt has no train command yet (app/cli/cmd_train.cpp)")

QStringList trainArguments(const QString& folder, const QString& db, int steps, int checkpointEvery)
{
    return {"train",
            "--model",
            folder + "/model",
            "--context",
            folder + "/context.txt",
            "--queries",
            folder + "/queries.jsonl",
            "--k",
            "2",
            "--steps",
            QString::number(steps),
            "--checkpoint-every",
            QString::number(checkpointEvery),
            "--eval-every",
            "50",
            "--db",
            db};
}

} // namespace

class TestStoreCli : public QObject {
    Q_OBJECT
private:
    QTemporaryDir folder_;
    QString db_;
    std::int64_t runId_ = 0;

private Q_SLOTS:
    void initTestCase()
    {
        db_ = folder_.filePath("runs.sqlite");
        sp::RunStore store = sp::RunStore::open(db_.toStdString());
        sp::NewRun run = exampleRun("cli run", 4);
        run.tags = {"cli"};
        auto writer = store.startRun(run);
        for (int step = 1; step <= 120; ++step)
            writer->addMetrics(step, {{sp::metric_key::TrainS, metricValue(step, 0)},
                                      {sp::metric_key::LearningRate, metricValue(step, 1)}});
        writer->checkpoint(60, sigmaForStep(60));
        writer->checkpoint(120, sigmaForStep(120));
        writer->finish(sp::RunStatus::Finished);
        runId_ = writer->runId();
    }

    void listShowsTheRuns()
    {
        const CliResult json = runCli({"runs", "list", "--db", db_, "--json"});
        QVERIFY2(json.exitCode == 0, json.err.constData());
        const nlohmann::json list = parseJson(json.out);
        QCOMPARE(list["runs"].size(), std::size_t(1));
        QCOMPARE(list["runs"][0]["id"].get<std::int64_t>(), runId_);
        QCOMPARE(list["runs"][0]["status"].get<std::string>(), std::string("finished"));
        QCOMPARE(list["runs"][0]["lastStep"].get<int>(), 120);
        QCOMPARE(list["runs"][0]["tags"], nlohmann::json({"cli"}));

        const CliResult text = runCli({"runs", "list", "--db", db_});
        QCOMPARE(text.exitCode, 0);
        QVERIFY(text.out.contains("cli run [cli]"));
        QVERIFY(text.out.contains("finished"));
    }

    void showGivesTheCurveSummary()
    {
        const CliResult result = runCli({"runs", "show", QString::number(runId_), "--db", db_, "--json"});
        QVERIFY2(result.exitCode == 0, result.err.constData());
        const nlohmann::json run = parseJson(result.out);
        QCOMPARE(run["curves"].size(), std::size_t(2));
        QCOMPARE(run["curves"][0]["metric"].get<std::string>(), std::string(sp::metric_key::TrainS));
        QCOMPARE(run["curves"][0]["points"].get<int>(), 120);
        QCOMPARE(run["curves"][0]["last"].get<double>(), metricValue(120, 0));
        QCOMPARE(run["checkpoints"].size(), std::size_t(2));
        QCOMPARE(run["lastCheckpointStep"].get<int>(), 120);

        const CliResult text = runCli({"runs", "show", QString::number(runId_), "--db", db_});
        QCOMPARE(text.exitCode, 0);
        QVERIFY(text.out.contains("up to step 120"));
        QVERIFY(text.out.contains("train_s"));
    }

    void exportWritesCsvSigmaAndPeft()
    {
        const QString csv = folder_.filePath("curve.csv");
        const QString sigma = folder_.filePath("sigma.safetensors");
        const QString peft = folder_.filePath("adapter");
        const CliResult result = runCli({"runs", "export", QString::number(runId_), "--db", db_, "--csv", csv,
                                         "--sigma", sigma, "--peft", peft});
        QVERIFY2(result.exitCode == 0, result.err.constData());
        const std::string csvText = fileBytes(csv.toStdString());
        QVERIFY(csvText.rfind("step,train_s,learning_rate\n1,", 0) == 0);
        QCOMPARE(std::count(csvText.begin(), csvText.end(), '\n'), 121L);
        sp::RunStore store = sp::RunStore::open(db_.toStdString());
        QVERIFY(fileBytes(sigma.toStdString()) == store.sigmaSafetensors(runId_));
        QCOMPARE(sp::readPeftAdapter(peft.toStdString()).sigma.values, sigmaForStep(120).values);

        // An earlier checkpoint on request.
        const QString early = folder_.filePath("early.safetensors");
        QCOMPARE(
            runCli({"runs", "export", QString::number(runId_), "--db", db_, "--sigma", early, "--step", "60"})
                .exitCode,
            0);
        QVERIFY(fileBytes(early.toStdString()) == store.sigmaSafetensors(runId_, 60));
    }

    void importThenDelete()
    {
        const QString peft = folder_.filePath("adapter");
        const CliResult imported = runCli({"runs", "import-peft", peft, "--db", db_, "--json"});
        QVERIFY2(imported.exitCode == 0, imported.err.constData());
        const std::int64_t id = parseJson(imported.out)["id"].get<std::int64_t>();
        QVERIFY(id != runId_);
        {
            sp::RunStore store = sp::RunStore::open(db_.toStdString());
            QCOMPARE(store.loadSigma(id).values, sigmaForStep(120).values);
        }
        // An imported σ has no context or queries: eval says so in one line, and what to run instead.
        const CliResult evaluated = runCli({"eval", "--run", QString::number(id), "--db", db_});
        QCOMPARE(evaluated.exitCode, 1);
        QVERIFY2(evaluated.err.contains("imported from " + peft.toUtf8()), evaluated.err.constData());
        QVERIFY2(evaluated.err.contains("softprompt generate --run " + QByteArray::number(qlonglong(id))),
                 evaluated.err.constData());
        QCOMPARE(evaluated.err.count('\n'), 1);
        CliResult deleted = runCli({"runs", "delete", QString::number(id), "--db", db_});
        QVERIFY2(deleted.exitCode == 0, deleted.err.constData());
        QVERIFY(deleted.out.contains("deleted run"));
        deleted = runCli({"runs", "delete", QString::number(id), "--db", db_});
        QCOMPARE(deleted.exitCode, 1);
        QVERIFY(deleted.err.contains("no run " + QByteArray::number(qlonglong(id))));
        QCOMPARE(deleted.err.count('\n'), 1); // one line
    }

    void badInputIsAOneLineError_data()
    {
        QTest::addColumn<QStringList>("arguments");
        QTest::addColumn<QString>("phrase");
        QTest::newRow("unknown run") << QStringList{"runs", "show", "999"} << "no run 999";
        QTest::newRow("export without a target") << QStringList{"runs", "export", "1"} << "needs --csv";
        QTest::newRow("import from a missing folder")
            << QStringList{"runs", "import-peft", "/nonexistent/adapter"} << "is not a folder";
        QTest::newRow("unknown status")
            << QStringList{"runs", "list", "--status", "sleeping"} << "unknown run status";
    }
    void badInputIsAOneLineError()
    {
        QFETCH(QStringList, arguments);
        QFETCH(QString, phrase);
        const CliResult result = runCli(arguments + QStringList{"--db", db_});
        QCOMPARE(result.exitCode, 1);
        QVERIFY2(result.err.contains(phrase.toUtf8()), result.err.constData());
        QCOMPARE(result.err.count('\n'), 1);
    }

    void corruptDatabaseIsRefusedUntouched()
    {
        const QString bad = folder_.filePath("bad.sqlite");
        {
            QFile file(bad);
            QVERIFY(file.open(QIODevice::WriteOnly));
            file.write(QByteArray(4096, 'x'));
        }
        const std::string before = fileBytes(bad.toStdString());
        const CliResult result = runCli({"runs", "list", "--db", bad});
        QCOMPARE(result.exitCode, 1);
        QVERIFY2(result.err.contains("not a SQLite database"), result.err.constData());
        QVERIFY(fileBytes(bad.toStdString()) == before);
    }

    // Commands that only read or change stored runs never create the database: on a default path
    // that does not exist yet they say there are no runs and leave no file (or folder) behind.
    void missingDefaultDatabaseIsNotCreated_data()
    {
        QTest::addColumn<QStringList>("arguments");
        QTest::addColumn<int>("exitCode");
        QTest::addColumn<QString>("phrase"); // on stdout for exit code 0, else on stderr
        QTest::newRow("list") << QStringList{"runs", "list"} << 0 << "no runs yet";
        QTest::newRow("list --json") << QStringList{"runs", "list", "--json"} << 0 << "\"runs\":[]";
        QTest::newRow("show") << QStringList{"runs", "show", "1"} << 1 << "there are no runs yet";
        QTest::newRow("export") << QStringList{"runs", "export", "1", "--csv", "curve.csv"} << 1
                                << "there are no runs yet";
        QTest::newRow("delete") << QStringList{"runs", "delete", "1"} << 1 << "there are no runs yet";
        QTest::newRow("eval") << QStringList{"eval", "--run", "1"} << 1 << "there are no runs yet";
    }
    void missingDefaultDatabaseIsNotCreated()
    {
        QFETCH(QStringList, arguments);
        QFETCH(int, exitCode);
        QFETCH(QString, phrase);
        QTemporaryDir home;
        QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
        environment.insert("XDG_DATA_HOME", home.path());
        const CliResult result = runCli(arguments, environment);
        QCOMPARE(result.exitCode, exitCode);
        QVERIFY2((exitCode == 0 ? result.out : result.err).contains(phrase.toUtf8()),
                 (result.out + result.err).constData());
        if (exitCode != 0)
            QCOMPARE(result.err.count('\n'), 1);
        QVERIFY2(QDir(home.path()).entryList(QDir::NoDotAndDotDot | QDir::AllEntries).isEmpty(),
                 "a read-only command created files under XDG_DATA_HOME");
    }

    void defaultDatabaseIsUnderXdgDataHome()
    {
        QTemporaryDir home;
        QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
        environment.insert("XDG_DATA_HOME", home.path());
        const QString expected = home.path() + "/softprompt-workbench/runs.sqlite";
        CliResult result = runCli({"runs", "list", "--json"}, environment);
        QVERIFY2(result.exitCode == 0, result.err.constData());
        QCOMPARE(QString::fromStdString(parseJson(result.out)["database"].get<std::string>()), expected);
        QVERIFY(!QFileInfo::exists(expected));

        // A command that stores a run creates it there.
        result = runCli({"runs", "import-peft", folder_.filePath("adapter"), "--json"}, environment);
        QVERIFY2(result.exitCode == 0, result.err.constData());
        QVERIFY(QFileInfo::exists(expected));
        result = runCli({"runs", "list", "--json"}, environment);
        QVERIFY2(result.exitCode == 0, result.err.constData());
        const nlohmann::json list = parseJson(result.out);
        QCOMPARE(QString::fromStdString(list["database"].get<std::string>()), expected);
        QCOMPARE(list["runs"].size(), std::size_t(1));
    }

    void trainedRunShowsWithItsCurve()
    {
        SP_REQUIRE_SHARED_FIXTURE(fixture, "hf-tiny/tiny-random-gpt2");
        SP_REQUIRE_TRAIN_COMMAND();
        QTemporaryDir folder;
        writeTrainingInputs(folder.path(), fixture);
        const QString db = folder.filePath("runs.sqlite");
        const CliResult trained = runCli(trainArguments(folder.path(), db, 40, 15));
        QVERIFY2(trained.exitCode == 0, trained.err.constData());
        const std::int64_t id = parseJson(trained.out)["run_id"].get<std::int64_t>();

        const CliResult shown = runCli({"runs", "show", QString::number(id), "--db", db, "--json"});
        QVERIFY2(shown.exitCode == 0, shown.err.constData());
        const nlohmann::json run = parseJson(shown.out);
        QCOMPARE(run["status"].get<std::string>(), std::string("finished"));
        QCOMPARE(run["lastStep"].get<int>(), 40);
        bool hasTrainCurve = false;
        for (const nlohmann::json& curve : run["curves"])
            if (curve["metric"] == sp::metric_key::TrainS) {
                hasTrainCurve = true;
                QCOMPARE(curve["points"].get<int>(), 40);
                QCOMPARE(curve["lastStep"].get<int>(), 40);
            }
        QVERIFY(hasTrainCurve);
        QCOMPARE(run["lastCheckpointStep"].get<int>(), 40); // σ at the end, besides 15 and 30
        QCOMPARE(run["checkpoints"].size(), std::size_t(3));
        QVERIFY(run["evaluations"].get<int>() > 0);
        QCOMPARE(run["model"]["summary"]["hiddenSize"].get<int>(), 32);

        const CliResult text = runCli({"runs", "show", QString::number(id), "--db", db});
        QVERIFY(text.out.contains("up to step 40"));
        // The trained σ leaves as a PEFT adapter of the model's shape.
        const QString adapter = folder.filePath("adapter");
        QCOMPARE(runCli({"runs", "export", QString::number(id), "--db", db, "--peft", adapter}).exitCode, 0);
        const sp::PeftAdapter peft = sp::readPeftAdapter(adapter.toStdString());
        QCOMPARE(peft.sigma.k, 2);
        QCOMPARE(peft.sigma.dim, 32);
        QCOMPARE(peft.numAttentionHeads, 4);
        QCOMPARE(peft.numLayers, 5);
    }

    void killedTrainingIsInterruptedAndKeepsItsData()
    {
        SP_REQUIRE_SHARED_FIXTURE(fixture, "hf-tiny/tiny-random-gpt2");
        SP_REQUIRE_TRAIN_COMMAND();
        QTemporaryDir folder;
        writeTrainingInputs(folder.path(), fixture);
        const QString db = folder.filePath("runs.sqlite");
        QProcess training;
        training.start(SP_CLI_PATH, trainArguments(folder.path(), db, 1000000, 200));
        QVERIFY(training.waitForStarted(10000));

        // Watch the file as the GUI would, until a checkpoint and a time-based flush after it are in.
        std::int64_t runId = 0;
        int seenStep = 0, seenCheckpoint = 0;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
        while (!(seenCheckpoint >= 200 && seenStep > seenCheckpoint)) {
            QVERIFY2(training.state() == QProcess::Running, training.readAllStandardError().constData());
            QVERIFY2(std::chrono::steady_clock::now() < deadline,
                     "the training made no progress in 2 minutes");
            training.waitForFinished(200);
            if (!QFileInfo::exists(db))
                continue;
            sp::RunStore watcher = sp::RunStore::open(db.toStdString());
            const std::vector<sp::RunRecord> runs = watcher.listRuns();
            if (runs.empty())
                continue;
            QCOMPARE(runs.front().status, sp::RunStatus::Running); // alive: never marked interrupted
            runId = runs.front().id;
            seenStep = runs.front().lastStep;
            seenCheckpoint = runs.front().lastCheckpointStep.value_or(0);
        }
        QCOMPARE(::kill(static_cast<pid_t>(training.processId()), SIGKILL), 0);
        QVERIFY(training.waitForFinished(10000));
        QCOMPARE(training.exitStatus(), QProcess::CrashExit);

        QCOMPARE(integrityCheck(db.toStdString()), std::string("ok"));
        sp::RunStore store = sp::RunStore::open(db.toStdString());
        const sp::RunRecord run = store.run(runId);
        QCOMPARE(run.status, sp::RunStatus::Interrupted);
        QVERIFY(run.lastCheckpointStep.value_or(0) >= seenCheckpoint);
        const sp::SoftPrompt sigma = store.loadSigma(runId);
        QCOMPARE(sigma.k, 2);
        QCOMPARE(sigma.dim, 32);
        for (float value : sigma.values)
            QVERIFY(std::isfinite(value));
        const sp::MetricCurve curve = store.curve(runId, sp::metric_key::TrainS);
        QVERIFY(curve.steps.size() >= std::size_t(seenStep));
        for (std::size_t i = 0; i < curve.steps.size(); ++i)
            QCOMPARE(curve.steps[i], int(i) + 1); // whole, from step 1
        QCOMPARE(run.lastStep, curve.steps.back());

        const CliResult shown = runCli({"runs", "show", QString::number(runId), "--db", db, "--json"});
        QVERIFY2(shown.exitCode == 0, shown.err.constData());
        const nlohmann::json json = parseJson(shown.out);
        QCOMPARE(json["status"].get<std::string>(), std::string("interrupted"));
        QCOMPARE(json["lastStep"].get<int>(), run.lastStep);
        qInfo("killed the CLI training; stored up to step %d (seen %d), checkpoint %d", run.lastStep,
              seenStep, *run.lastCheckpointStep);
    }

    void benchPrintsJson()
    {
        const CliResult result = runCli({"bench", "store", "--points", "2000", "--curve-points", "500",
                                         "--repeats", "3", "--dir", folder_.path()});
        QVERIFY2(result.exitCode == 0, result.err.constData());
        const nlohmann::json bench = parseJson(result.out);
        QCOMPARE(bench["write"]["points"].get<int>(), 2000);
        QVERIFY(bench["write"]["points_per_second"].get<double>() > 0);
        QVERIFY(bench["write"]["transactions"].get<int>() >= 1);
        QCOMPARE(bench["read_curve"]["points"].get<int>(), 500);
        QVERIFY(bench["read_curve"]["median_ms"].get<double>() > 0);
        QVERIFY(QDir(folder_.path()).entryList({"softprompt-bench-store-*"}).isEmpty()); // cleaned up
    }
};

QTEST_GUILESS_MAIN(TestStoreCli)
#include "test_store_cli.moc"
