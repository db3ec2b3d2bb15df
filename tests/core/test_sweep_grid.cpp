// Sweep grids (JSON -> `softprompt train` invocations) and the Slurm side that needs no cluster:
// the array script, the sweep record, and parsing scontrol/sacct output.
#include "softprompt/error.h"
#include "softprompt/slurm.h"
#include "softprompt/sweep_grid.h"

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <fstream>

namespace {

sp::SweepGrid parse(const char* json, const std::string& base = "/grids", const std::vector<sp::TrainOption>& shared = {})
{
    return sp::parseSweepGrid(std::string(json), base, shared);
}

QStringList labels(const sp::SweepGrid& grid)
{
    QStringList list;
    for (const sp::GridPoint& point : grid.points)
        list << QString::fromStdString(point.label);
    return list;
}

} // namespace

class TestSweepGrid : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void kAloneIsTheSimpleCase()
    {
        const sp::SweepGrid grid =
            parse(R"({"k": [1, 2, 4]})", "/g", {{"model", "demo"}, {"context", "/c.txt"}, {"queries", "/q.jsonl"}});
        QCOMPARE(grid.points.size(), std::size_t(3));
        QCOMPARE(labels(grid), (QStringList{"k=1", "k=2", "k=4"}));
        QCOMPARE(grid.points[2].option("k"), std::string("4"));
        QCOMPARE(grid.points[2].option("model"), std::string("demo"));
        QCOMPARE(grid.points[2].index, 2);
        QCOMPARE(grid.points[0].trainArguments(),
                 (std::vector<std::string>{"--model", "demo", "--context", "/c.txt", "--queries", "/q.jsonl", "--k", "1"}));
        // kSweepGrid writes the same grid.
        const sp::SweepGrid same = sp::parseSweepGrid(sp::kSweepGrid({1, 2, 4}), std::string("/g"),
                                                      {{"model", "demo"}, {"context", "/c.txt"}, {"queries", "/q.jsonl"}});
        QCOMPARE(labels(same), labels(grid));
    }

    void cartesianProductFirstAxisSlowest()
    {
        const sp::SweepGrid grid = parse(R"({
            "name": "full grid",
            "train": {"model": "demo", "context": "c.txt", "queries": "q.jsonl", "steps": 20},
            "grid": {"objective": ["kl", "nll"], "lr": [0.01, 0.1], "init": ["text", "random"],
                     "seed": [1, 2], "target": ["next"], "k": [2, 4, 8]}
        })");
        QCOMPARE(grid.name, std::string("full grid"));
        QCOMPARE(grid.points.size(), std::size_t(2 * 2 * 2 * 2 * 1 * 3));
        QCOMPARE(grid.axes, (std::vector<std::string>{"objective", "lr", "init", "seed", "target", "k"}));
        QCOMPARE(QString::fromStdString(grid.points[0].label), QString("objective=kl lr=0.01 init=text seed=1 target=next k=2"));
        QCOMPARE(QString::fromStdString(grid.points[1].label), QString("objective=kl lr=0.01 init=text seed=1 target=next k=4"));
        QCOMPARE(QString::fromStdString(grid.points[3].label), QString("objective=kl lr=0.01 init=text seed=2 target=next k=2"));
        QCOMPARE(QString::fromStdString(grid.points.back().label), QString("objective=nll lr=0.1 init=random seed=2 target=next k=8"));
        // Shared options are resolved against the grid's folder and come first.
        QCOMPARE(grid.points[5].option("context"), std::string("/grids/c.txt"));
        QCOMPARE(grid.points[5].option("steps"), std::string("20"));
        QCOMPARE(grid.points[5].options.front().first, std::string("model"));
        // Every point differs.
        const QStringList all = labels(grid);
        const QSet<QString> unique(all.begin(), all.end());
        QCOMPARE(unique.size(), int(grid.points.size()));
    }

    void contextQueryPairsAndExtraPoints()
    {
        const sp::SweepGrid grid = parse(R"({
            "train": {"model": "demo"},
            "grid": {"inputs": [{"context": "a/c.txt", "queries": "a/q.jsonl"},
                                {"context": "/abs/b.txt", "queries": "/abs/bq.jsonl", "heldout": "b/h.jsonl"}],
                     "k": [1, 2]},
            "points": [{"context": "a/c.txt", "queries": "a/q.jsonl", "k": 64, "steps": 400}]
        })");
        QCOMPARE(grid.points.size(), std::size_t(5));
        QCOMPARE(grid.points[0].option("context"), std::string("/grids/a/c.txt"));
        QCOMPARE(grid.points[2].option("context"), std::string("/abs/b.txt"));
        QCOMPARE(grid.points[2].option("heldout"), std::string("/grids/b/h.jsonl"));
        QCOMPARE(grid.points[0].option("heldout"), std::string());
        QCOMPARE(QString::fromStdString(grid.points[3].label), QString("context=b.txt queries=bq.jsonl heldout=h.jsonl k=2"));
        QCOMPARE(grid.points[4].option("k"), std::string("64"));
        QCOMPARE(grid.points[4].option("steps"), std::string("400"));
        QCOMPARE(grid.points[4].index, 4);
    }

    void fileOverridesCommandLineAndPointsOverrideShared()
    {
        const sp::SweepGrid grid =
            parse(R"({"train": {"steps": 30, "context": "c.txt", "queries": "q.jsonl"}, "grid": {"steps": [5, 6]}})",
                  "/g", {{"model", "demo"}, {"steps", "100"}, {"lr", "0.5"}});
        QCOMPARE(grid.points[0].option("steps"), std::string("5"));
        QCOMPARE(grid.points[1].option("steps"), std::string("6"));
        QCOMPARE(grid.points[1].option("lr"), std::string("0.5"));
        int stepsOptions = 0;
        for (const auto& option : grid.points[1].options)
            stepsOptions += option.first == "steps";
        QCOMPARE(stepsOptions, 1); // each key once: train would refuse a repeated option
    }

    void badGridsSayWhatToFix_data()
    {
        QTest::addColumn<QString>("json");
        QTest::addColumn<QString>("expected");
        const QString base = R"("train": {"model": "demo", "context": "c", "queries": "q"})";
        QTest::newRow("unknown option") << "{" + base + R"(, "grid": {"kk": [1]}})" << "\"kk\", which is not a `softprompt train` option";
        QTest::newRow("reserved option") << "{" + base + R"(, "grid": {"db": ["x"]}})" << "sets \"db\", which the sweep sets itself";
        QTest::newRow("empty axis") << "{" + base + R"(, "grid": {"k": []}})" << "must be a non-empty list";
        QTest::newRow("axis not a list") << "{" + base + R"(, "grid": {"k": 4}})" << "must be a non-empty list";
        QTest::newRow("nested list value") << "{" + base + R"(, "grid": {"k": [[1, 2]]}})" << "must be a string, a number";
        QTest::newRow("no model") << R"({"train": {"context": "c", "queries": "q"}, "grid": {"k": [1]}})" << "has no \"model\"";
        QTest::newRow("top-level stray key") << "{" + base + R"(, "grid": {"k": [1]}, "kk": 2})" << "unknown top-level key \"kk\"";
        QTest::newRow("not an object") << "[1, 2]" << "must hold a JSON object";
        QTest::newRow("too many points")
            << "{" + base + R"(, "grid": {"k": [1,2,3,4,5,6,7,8,9,10], "seed": [1,2,3,4,5,6,7,8,9,10], "lr": [1,2,3,4,5,6,7,8,9,10], "batch": [1,2,3,4,5,6,7,8,9,10,11]}})"
            << "more than 10000 points";
    }

    void badGridsSayWhatToFix()
    {
        QFETCH(QString, json);
        QFETCH(QString, expected);
        try {
            parse(json.toUtf8().constData());
            QFAIL("no error");
        } catch (const sp::Error& error) {
            QVERIFY2(QString(error.what()).contains(expected), error.what());
        }
    }

    void loadsAFileAndNamesIt()
    {
        QTemporaryDir folder;
        const QString path = folder.filePath("lr-sweep.json");
        {
            std::ofstream file(path.toStdString());
            file << R"({"train": {"model": "demo", "context": "ctx.txt", "queries": "q.jsonl"}, "grid": {"lr": [0.01, 0.03]}})";
        }
        const sp::SweepGrid grid = sp::loadSweepGrid(path.toStdString());
        QCOMPARE(grid.name, std::string("lr-sweep"));
        QCOMPARE(grid.points[1].option("lr"), std::string("0.03"));
        QCOMPARE(grid.points[1].option("context"), QDir(folder.path()).filePath("ctx.txt").toStdString());
        {
            std::ofstream file(path.toStdString());
            file << "{not json";
        }
        try {
            sp::loadSweepGrid(path.toStdString());
            QFAIL("no error");
        } catch (const sp::Error& error) {
            QVERIFY2(QString(error.what()).contains("is not valid JSON"), error.what());
        }
    }

    // ---- Slurm, without a cluster ----

    void arrayScriptIsValidBashWithOneLinePerPoint()
    {
        QTemporaryDir folder;
        sp::slurm::SlurmSweep sweep;
        sweep.uuid = "0123abcd-0000-4000-8000-000000000000";
        sweep.name = "it's a sweep";
        sweep.directory = folder.filePath("sweep").toStdString();
        sweep.database = "/shared/runs.sqlite";
        sweep.softprompt = "/opt/softprompt/bin/softprompt";
        // Built as JSON values: moc's tokenizer misreads a quote inside a raw string literal.
        const nlohmann::json gridJson = {
            {"train", {{"model", "demo"}, {"context", "/c t.txt"}, {"queries", "/q.jsonl"}}},
            {"grid", {{"k", {1, 2}}, {"init-text", {"it's", "x"}}}}};
        sweep.points = sp::parseSweepGrid(gridJson, "/grids").points;
        sweep.options.partition = "gpu";
        sweep.options.gpusPerTask = 1;
        sweep.options.cpusPerTask = 4;
        sweep.options.time = "00:30:00";
        sweep.options.account = "proj7";
        sweep.options.extraSbatch = "--mem=8G --qos=short";
        sweep.options.preamble = "module load cuda/12.1";
        sweep.options.maxParallel = 2;
        const std::string script = sp::slurm::arrayScript(sweep);
        const QString text = QString::fromStdString(script);
        for (const char* line : {"#SBATCH --array=0-3%2", "#SBATCH --partition=gpu", "#SBATCH --gpus-per-task=1",
                                 "#SBATCH --cpus-per-task=4", "#SBATCH --time=00:30:00", "#SBATCH --account=proj7",
                                 "#SBATCH --mem=8G", "#SBATCH --qos=short", "module load cuda/12.1"})
            QVERIFY2(text.contains(line), line);
        QVERIFY(text.contains("--sweep-uuid 0123abcd-0000-4000-8000-000000000000"));
        QCOMPARE(text.count(QRegularExpression("^    [0-9]+\\) POINT=", QRegularExpression::MultilineOption)), 4);
        QVERIFY(text.contains("--device cuda")); // GPUs asked for, no device in the grid
        // bash accepts it, and a task's POINT array is exactly the point's arguments (quoting holds).
        const QString path = folder.filePath("check.sh");
        {
            std::ofstream file(path.toStdString());
            std::string checked = script;
            const std::string exec = "exec \"$SOFTPROMPT\" train";
            checked.replace(checked.find(exec), exec.size(), "printf '%s\\n' \"${POINT[@]}\"; exit 0; train");
            file << checked;
        }
        QProcess bash;
        QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
        environment.insert("SLURM_ARRAY_TASK_ID", "1");
        bash.setProcessEnvironment(environment);
        bash.start("bash", {"-c", "module() { :; }; export -f module; bash " + path});
        QVERIFY(bash.waitForFinished(10000));
        QCOMPARE(bash.exitCode(), 0);
        const QStringList printed = QString::fromUtf8(bash.readAllStandardOutput()).split('\n', Qt::SkipEmptyParts);
        QStringList expected;
        for (const std::string& argument : sweep.points[1].trainArguments())
            expected << QString::fromStdString(argument);
        expected << "--device" << "cuda" << "--name" << QString::fromStdString(sweep.points[1].label);
        QCOMPARE(printed, expected);
        // A JSON value's keys are sorted: "init-text" varies slowest.
        QCOMPARE(sweep.points[0].option("init-text"), std::string("it's"));
        QCOMPARE(sweep.points[1].option("init-text"), std::string("it's"));
        QCOMPARE(sweep.points[2].option("init-text"), std::string("x"));

        const QString merge = QString::fromStdString(sp::slurm::mergeScript(sweep));
        QVERIFY(merge.contains("runs merge"));
        QVERIFY(merge.contains("/shared/runs.sqlite"));
        QVERIFY(merge.contains("#SBATCH --partition=gpu"));
        QVERIFY(!merge.contains("--gpus-per-task"));
    }

    void sweepRecordRoundTrips()
    {
        QTemporaryDir folder;
        sp::slurm::SlurmSweep sweep;
        sweep.uuid = "0123abcd-0000-4000-8000-000000000000";
        sweep.name = "s";
        sweep.directory = folder.path().toStdString();
        sweep.points = parse(R"({"train": {"model": "demo", "context": "c", "queries": "q"}, "grid": {"k": [1, 2]}})").points;
        sweep.options.partition = "p";
        sweep.arrayJobId = "41";
        sweep.mergeJobId = "42";
        sp::slurm::writeSweepRecord(sweep);
        const sp::slurm::SlurmSweep read = sp::slurm::readSweepRecord(folder.path().toStdString());
        QCOMPARE(read.toJson(), sweep.toJson());
        QCOMPARE(read.points[1].option("k"), std::string("2"));
        QCOMPARE(read.shardPath(1), folder.filePath("shards/task-1.sqlite").toStdString());
    }

    void expandsArrayTaskIds_data()
    {
        QTest::addColumn<QString>("text");
        QTest::addColumn<QList<int>>("expected");
        QTest::newRow("one") << "7" << QList<int>{7};
        QTest::newRow("range with throttle") << "0-5%2" << QList<int>{0, 1, 2, 3, 4, 5};
        QTest::newRow("list and range") << "1,3-4" << QList<int>{1, 3, 4};
        QTest::newRow("squeue brackets") << "[2-3]" << QList<int>{2, 3};
        QTest::newRow("not a list") << "N/A" << QList<int>{};
    }

    void expandsArrayTaskIds()
    {
        QFETCH(QString, text);
        QFETCH(QList<int>, expected);
        const std::vector<int> ids = sp::slurm::expandArrayTaskIds(text.toStdString());
        QCOMPARE(QList<int>(ids.begin(), ids.end()), expected);
    }

    void parsesScontrolAndSacct()
    {
        // Recorded from Slurm 22.05 (`scontrol -o show job 12`), trimmed: a pending range, a running
        // task, a failed one.
        const std::string scontrol =
            "JobId=15 ArrayJobId=12 ArrayTaskId=3-5%2 JobName=sp JobState=PENDING Reason=JobArrayTaskLimit "
            "Dependency=(null) ExitCode=0:0 NodeList=(null)\n"
            "JobId=13 ArrayJobId=12 ArrayTaskId=1 JobName=sp JobState=RUNNING Reason=None ExitCode=0:0 "
            "NodeList=localhost\n"
            "JobId=12 ArrayJobId=12 ArrayTaskId=0 JobName=sp JobState=FAILED Reason=NonZeroExitCode "
            "ExitCode=1:0 NodeList=localhost\n";
        const std::map<int, sp::slurm::TaskState> tasks = sp::slurm::parseScontrolTasks(scontrol);
        QCOMPARE(tasks.size(), std::size_t(5));
        QCOMPARE(tasks.at(4).state, std::string("PENDING"));
        QCOMPARE(tasks.at(4).reason, std::string("JobArrayTaskLimit"));
        QCOMPARE(tasks.at(1).state, std::string("RUNNING"));
        QCOMPARE(tasks.at(1).reason, std::string());
        QCOMPARE(tasks.at(1).node, std::string("localhost"));
        QCOMPARE(tasks.at(0).state, std::string("FAILED"));
        QCOMPARE(tasks.at(0).exitCode, std::string("1:0"));
        QVERIFY(tasks.at(0).finished() && !tasks.at(0).succeeded());
        QVERIFY(!tasks.at(4).finished());

        const sp::slurm::TaskState merge = sp::slurm::parseScontrolJob(
            "JobId=18 JobName=sp-merge UserId=root(0) JobState=CANCELLED Reason=DependencyNeverSatisfied "
            "Dependency=afterok:12_*(failed) ExitCode=0:0\n");
        QCOMPARE(merge.state, std::string("CANCELLED"));
        QCOMPARE(merge.reason, std::string("DependencyNeverSatisfied"));

        const std::map<int, sp::slurm::TaskState> accounted = sp::slurm::parseSacctTasks(
            "12_0|COMPLETED|0:0|node01\n12_1|CANCELLED by 0|0:15|node02\n12_[2-3]|PENDING|0:0|None assigned\n"
            "120_9|COMPLETED|0:0|x\n",
            "12");
        QCOMPARE(accounted.size(), std::size_t(4)); // job 120 is another job
        QCOMPARE(accounted.at(1).state, std::string("CANCELLED"));
        QCOMPARE(accounted.at(1).node, std::string("node02"));
        QCOMPARE(accounted.at(3).state, std::string("PENDING"));
        QCOMPARE(accounted.at(3).node, std::string());
        QCOMPARE(accounted.at(0).source, std::string("sacct"));
    }

    void forgottenTasksComeFromTheRecord()
    {
        // No Slurm involved: a sweep never submitted reports every task from its shard and log.
        QTemporaryDir folder;
        sp::slurm::SlurmSweep sweep;
        sweep.uuid = "0123abcd-0000-4000-8000-000000000000";
        sweep.directory = folder.path().toStdString();
        sweep.points = parse(R"({"train": {"model": "demo", "context": "c", "queries": "q"}, "grid": {"k": [1, 2]}})").points;
        QDir(folder.path()).mkpath("logs");
        {
            std::ofstream log(sweep.logPath(1));
            log << "loading\nsoftprompt: k must be at least 1\n";
        }
        const sp::slurm::SweepStatus status = sp::slurm::querySweepStatus(sweep);
        QCOMPARE(status.tasks.size(), std::size_t(2));
        QCOMPARE(status.tasks[0].state, std::string("UNKNOWN"));
        QCOMPARE(status.tasks[1].state, std::string("FAILED")); // it has a log but stored no run
        QCOMPARE(status.tasks[1].source, std::string("record"));
        QVERIFY(QString::fromStdString(status.tasks[1].logTail).contains("k must be at least 1"));
        QVERIFY(!status.allFinished());
    }

    void runCommandTimesOut()
    {
        const sp::slurm::CommandResult quick = sp::slurm::runCommand({"sh", "-c", "echo out; echo err >&2; exit 3"}, 5);
        QCOMPARE(quick.exitCode, 3);
        QVERIFY(quick.output.find("out") != std::string::npos && quick.output.find("err") != std::string::npos);
        QElapsedTimer timer;
        timer.start();
        const sp::slurm::CommandResult slow = sp::slurm::runCommand({"sleep", "30"}, 1);
        QVERIFY(slow.timedOut);
        QVERIFY2(timer.elapsed() < 10000, "the timeout must end a hanging client (as scontrol hangs without slurmctld)");
        const sp::slurm::CommandResult missing = sp::slurm::runCommand({"no-such-program-xyz"}, 5);
        QCOMPARE(missing.exitCode, 127);
    }
};

QTEST_GUILESS_MAIN(TestSweepGrid)
#include "test_sweep_grid.moc"
