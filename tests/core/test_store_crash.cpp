// Crash safety and sharing with real processes: a writer killed with SIGKILL mid-run, the liveness
// rules that keep a live writer's run from being marked interrupted, and several processes writing
// one file at once. The child is store_test_writer (tests/core/store_writer), which writes through
// the RunStore API exactly as a training run does.
#include "store_support/store_test_util.h"

#include "softprompt/error.h"
#include "softprompt/run_store.h"

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <thread>

using namespace storetest;

namespace {

long long nowMs()
{
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// What a child reported on stdout.
struct ChildLog {
    std::int64_t runId = 0;
    int lastAdded = 0;
    int lastCommitted = 0;
    int lastCheckpoint = 0;
    bool finished = false;
    std::map<int, long long> addedAtMs;

    void read(QProcess& process)
    {
        while (process.canReadLine()) {
            const QList<QByteArray> words = process.readLine().trimmed().split(' ');
            if (words.size() >= 2 && words[0] == "run")
                runId = words[1].toLongLong();
            else if (words.size() >= 3 && words[0] == "added") {
                lastAdded = words[1].toInt();
                addedAtMs[lastAdded] = words[2].toLongLong();
            } else if (words.size() >= 2 && words[0] == "committed")
                lastCommitted = words[1].toInt();
            else if (words.size() >= 2 && words[0] == "checkpoint")
                lastCheckpoint = words[1].toInt();
            else if (words[0] == "finished")
                finished = true;
        }
    }
};

std::string databaseIn(const QTemporaryDir& folder)
{
    return QDir(folder.path()).filePath("runs.sqlite").toStdString();
}

} // namespace

class TestStoreCrash : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void killedWriterIsMarkedInterruptedAndKeepsItsData()
    {
        QTemporaryDir folder;
        const std::string path = databaseIn(folder);
        sp::RunStore::open(path); // created before the child starts, as the GUI would have it
        QProcess child;
        child.start(SP_STORE_WRITER_PATH,
                    {QString::fromStdString(path), "--steps", "1000000", "--step-ms", "4",
                     "--checkpoint-every", "300", "--metrics", "3", "--flush-ms", "1000"});
        QVERIFY2(child.waitForStarted(5000), "cannot start store_test_writer");
        ChildLog log;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        // Wait until a checkpoint and a time-based flush after it are behind us (checkpoints, every
        // 300 steps, are rarer than the 1 s flushes).
        while (!(log.lastCheckpoint >= 300 && log.lastCommitted > log.lastCheckpoint)) {
            QVERIFY2(std::chrono::steady_clock::now() < deadline, "the child made no progress");
            QVERIFY2(child.state() == QProcess::Running, child.readAllStandardError().constData());
            child.waitForReadyRead(100);
            log.read(child);
        }

        // The GUI opens the same file while the CLI trains: the live run must stay "running".
        {
            sp::RunStore gui = sp::RunStore::open(path);
            QCOMPARE(gui.markInterruptedRuns(), 0);
            const sp::RunRecord live = gui.run(log.runId);
            QCOMPARE(live.status, sp::RunStatus::Running);
            QCOMPARE(live.owner.pid, static_cast<std::int64_t>(child.processId()));
            QVERIFY(gui.isWriterAlive(live));
        }

        // Then a checkpoint after the GUI's connection came and went must survive the kill too (a
        // second open must not drop the writer's locks and let the GUI delete its journal).
        const int checkpointBeforeGui = log.lastCheckpoint;
        while (log.lastCheckpoint <= checkpointBeforeGui) {
            QVERIFY2(std::chrono::steady_clock::now() < deadline, "the child made no progress");
            QVERIFY2(child.state() == QProcess::Running, child.readAllStandardError().constData());
            child.waitForReadyRead(100);
            log.read(child);
        }
        // Kill it after the next time-based flush, inside the one after.
        std::this_thread::sleep_for(std::chrono::milliseconds(1400));
        const long long killedAtMs = nowMs();
        QCOMPARE(::kill(static_cast<pid_t>(child.processId()), SIGKILL), 0);
        QVERIFY(child.waitForFinished(10000));
        QCOMPARE(child.exitStatus(), QProcess::CrashExit);
        log.read(child); // everything it printed before it died

        QCOMPARE(integrityCheck(path), std::string("ok"));
        sp::RunStore store = sp::RunStore::open(path);
        const sp::RunRecord run = store.run(log.runId);
        QCOMPARE(run.status, sp::RunStatus::Interrupted);
        QVERIFY2(QString::fromStdString(run.error).contains("stopped before it finished"), run.error.c_str());
        QVERIFY(run.endedAtMs > 0 && run.endedAtMs <= killedAtMs + 1000);

        // The last σ checkpoint loads, and it is that step's σ.
        QVERIFY(run.lastCheckpointStep.has_value());
        const int checkpointStep = *run.lastCheckpointStep;
        QVERIFY2(checkpointStep >= log.lastCheckpoint && checkpointStep <= log.lastAdded,
                 qPrintable(QString("checkpoint %1, seen %2, added %3")
                                .arg(checkpointStep)
                                .arg(log.lastCheckpoint)
                                .arg(log.lastAdded)));
        QCOMPARE(checkpointStep % 300, 0);
        QCOMPARE(store.loadSigma(log.runId).values, sigmaForStep(checkpointStep).values);
        QVERIFY2(QString::fromStdString(run.error).contains("step " + QString::number(checkpointStep)),
                 run.error.c_str());

        // The curve is there, whole, up to the last flush.
        int lastStored = 0;
        for (int m = 0; m < 3; ++m) {
            const sp::MetricCurve curve = store.curve(log.runId, metricName(m));
            QVERIFY(!curve.steps.empty());
            for (std::size_t i = 0; i < curve.steps.size(); ++i) {
                QCOMPARE(curve.steps[i], int(i) + 1);
                QCOMPARE(curve.values[i], metricValue(curve.steps[i], m));
            }
            if (m > 0)
                QCOMPARE(curve.steps.back(), lastStored); // metrics of a step are committed together
            lastStored = curve.steps.back();
        }
        QVERIFY(lastStored >= log.lastCommitted);
        QVERIFY(lastStored >= checkpointStep);
        QVERIFY(lastStored <= log.lastAdded);
        QCOMPARE(run.lastStep, lastStored);
        // At most about one flush interval (1 s) of curve was lost: the oldest point that did not make
        // it was handed over shortly before the kill.
        long long lostAgeMs = 0;
        if (lastStored < log.lastAdded)
            lostAgeMs = killedAtMs - log.addedAtMs.at(lastStored + 1);
        qInfo("killed after step %d; stored up to step %d, checkpoint %d; oldest lost point was %lld ms old",
              log.lastAdded, lastStored, checkpointStep, lostAgeMs);
        QVERIFY2(lostAgeMs <= 2000, qPrintable(QString("%1 ms of curve lost").arg(lostAgeMs)));
    }

    void liveWritersAreNeverMarkedInterrupted_data()
    {
        QTest::addColumn<QString>("owner");
        QTest::addColumn<bool>("interrupted");
        QTest::newRow("this live process") << "self" << false;
        QTest::newRow("a process that exited") << "dead pid" << true;
        QTest::newRow("a recycled pid (other start time)") << "recycled" << true;
        QTest::newRow("same host, earlier boot") << "other boot" << true;
        QTest::newRow("other host, fresh heartbeat") << "remote fresh" << false;
        QTest::newRow("other host, stale heartbeat") << "remote stale" << true;
        QTest::newRow("other pid namespace, fresh heartbeat") << "namespace fresh" << false;
        QTest::newRow("other pid namespace, stale heartbeat") << "namespace stale" << true;
        QTest::newRow("no writer recorded") << "none" << true;
    }
    void liveWritersAreNeverMarkedInterrupted()
    {
        QFETCH(QString, owner);
        QFETCH(bool, interrupted);
        QTemporaryDir folder;
        const std::string path = databaseIn(folder);
        std::int64_t runId = 0;
        {
            sp::RunStore store = sp::RunStore::open(path);
            auto writer = store.startRun(exampleRun("forged"));
            runId = writer->runId();
            writer->finish(sp::RunStatus::Finished);
        }
        // Turn it back into a running run with the writer under test (columns as this process wrote them).
        RawDatabase raw(path);
        const std::string where = " WHERE id = " + std::to_string(runId);
        std::string set = "status = 'running', ended_at = NULL, heartbeat_at = " + std::to_string(nowMs());
        if (owner == "dead pid") {
            QProcess exited;
            exited.start("/bin/true", {});
            QVERIFY(exited.waitForStarted(5000));
            const qint64 pid = exited.processId();
            QVERIFY(exited.waitForFinished(5000));
            set += ", owner_pid = " + std::to_string(pid);
        } else if (owner == "recycled") {
            set += ", owner_start_ticks = owner_start_ticks + 1";
        } else if (owner == "other boot") {
            set += ", owner_boot_id = 'a-boot-of-long-ago'";
        } else if (owner.startsWith("remote")) {
            set += ", owner_host = 'elsewhere.example'";
        } else if (owner.startsWith("namespace")) {
            set += ", owner_pid_namespace = 'pid:[1]'";
        } else if (owner == "none") {
            set = "status = 'running', ended_at = NULL, owner_pid = NULL, owner_host = NULL, owner_boot_id = "
                  "NULL, "
                  "owner_pid_namespace = NULL, owner_start_ticks = NULL, heartbeat_at = NULL";
        }
        if (owner.endsWith("stale"))
            set += ", heartbeat_at = " + std::to_string(nowMs() - 10 * 60 * 1000);
        raw.exec("UPDATE runs SET " + set + where);

        sp::RunStore store = sp::RunStore::open(path);
        QCOMPARE(store.run(runId).status, interrupted ? sp::RunStatus::Interrupted : sp::RunStatus::Running);
        QCOMPARE(store.markInterruptedRuns(), 0); // idempotent
    }

    void processesWriteTheSameFileAtOnce()
    {
        QTemporaryDir folder;
        const std::string path = databaseIn(folder);
        sp::RunStore gui = sp::RunStore::open(path);
        constexpr int steps = 600;
        const QStringList arguments = {QString::fromStdString(path),
                                       "--steps",
                                       QString::number(steps),
                                       "--step-ms",
                                       "1",
                                       "--checkpoint-every",
                                       "100",
                                       "--metrics",
                                       "3",
                                       "--flush-ms",
                                       "100"};
        QProcess first, second;
        first.start(SP_STORE_WRITER_PATH, arguments);
        second.start(SP_STORE_WRITER_PATH, arguments);
        QVERIFY(first.waitForStarted(5000) && second.waitForStarted(5000));
        // Meanwhile the GUI lists, tags and annotates runs on its own connection.
        int edits = 0;
        while (first.state() != QProcess::NotRunning || second.state() != QProcess::NotRunning) {
            for (const sp::RunRecord& run : gui.listRuns()) {
                gui.setNotes(run.id, "watched " + std::to_string(edits));
                gui.setTags(run.id, {"shared", "edit-" + std::to_string(edits % 3)});
                ++edits;
            }
            first.waitForFinished(20);
            second.waitForFinished(20);
        }
        QVERIFY(edits > 0);
        for (QProcess* child : {&first, &second}) {
            QCOMPARE(child->exitStatus(), QProcess::NormalExit);
            QVERIFY2(child->exitCode() == 0, child->readAllStandardError().constData());
            ChildLog log;
            log.read(*child);
            QVERIFY(log.finished);
            const sp::RunRecord run = gui.run(log.runId);
            QCOMPARE(run.status, sp::RunStatus::Finished);
            QVERIFY(!run.tags.empty());
            for (int m = 0; m < 3; ++m) {
                const sp::MetricCurve curve = gui.curve(log.runId, metricName(m));
                QCOMPARE(curve.steps.size(), std::size_t(steps));
                QCOMPARE(curve.values.back(), metricValue(steps, m));
            }
            QCOMPARE(gui.checkpoints(log.runId).size(), std::size_t(steps / 100));
        }
        QCOMPARE(integrityCheck(path), std::string("ok"));
    }
};

QTEST_GUILESS_MAIN(TestStoreCrash)
#include "test_store_crash.moc"
