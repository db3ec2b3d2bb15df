// The `softprompt runs ...` and `softprompt bench store` commands, run as the real executable.
#include "store_support/store_test_util.h"

#include "softprompt/error.h"
#include "softprompt/run_store.h"

#include <QProcess>
#include <QProcessEnvironment>
#include <QTemporaryDir>
#include <QtTest>

#include <cstring>

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

    void defaultDatabaseIsUnderXdgDataHome()
    {
        QTemporaryDir home;
        QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
        environment.insert("XDG_DATA_HOME", home.path());
        const CliResult result = runCli({"runs", "list", "--json"}, environment);
        QVERIFY2(result.exitCode == 0, result.err.constData());
        const QString expected = home.path() + "/softprompt-workbench/runs.sqlite";
        QCOMPARE(QString::fromStdString(parseJson(result.out)["database"].get<std::string>()), expected);
        QVERIFY(QFileInfo::exists(expected));
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
