// The Sweep tab's grid panel without a cluster: "Slurm cluster" is disabled with a tooltip that
// says why when sbatch is not on PATH, and following a sweep polls its tasks on the worker thread,
// fills the task table and merges finished shards into the open database.
#include "SlurmSweepPanel.h"

#include "softprompt/run_store.h"
#include "softprompt/slurm.h"
#include "softprompt/sweep_grid.h"

#include <QRadioButton>
#include <QSettings>
#include <QSignalSpy>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QtTest>

#include <fstream>

class TestSlurmPanel : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase()
    {
        QCoreApplication::setOrganizationName("softprompt-tests");
        QCoreApplication::setApplicationName("test_slurm_panel");
        QSettings().clear();
    }

    void slurmIsDisabledWithAReasonWithoutSbatch()
    {
        QTemporaryDir emptyPath;
        const QByteArray oldPath = qgetenv("PATH");
        qputenv("PATH", emptyPath.path().toUtf8());
        spui::SlurmSweepPanel panel([] { return QString(); });
        qputenv("PATH", oldPath);
        QVERIFY(!panel.slurmAvailable());
        QVERIFY(!panel.slurmOption()->isEnabled());
        QVERIFY2(panel.slurmOption()->toolTip().contains("sbatch is not on PATH"),
                 qPrintable(panel.slurmOption()->toolTip()));
    }

    void followingASweepFillsTheTableAndMergesFinishedShards()
    {
        QTemporaryDir folder;
        const std::string database = QDir(folder.path()).filePath("open.sqlite").toStdString();
        sp::slurm::SlurmSweep sweep;
        sweep.uuid = "5a1e0000-0000-4000-8000-000000000001";
        sweep.name = "panel test";
        sweep.directory = QDir(folder.path()).filePath("sweep").toStdString();
        sweep.points = sp::parseSweepGrid(
                           std::string(R"({"train": {"model": "demo", "context": "c", "queries": "q"}, "grid": {"k": [1, 2]}})"),
                           "/g")
                           .points;
        QDir().mkpath(QString::fromStdString(sweep.directory + "/shards"));
        QDir().mkpath(QString::fromStdString(sweep.directory + "/logs"));
        sp::slurm::writeSweepRecord(sweep);
        std::int64_t sweepId = 0;
        {
            sp::RunStore open = sp::RunStore::open(database);
            sweepId = open.findOrCreateSweep(sweep.uuid, sweep.name, nlohmann::json::object());
            // Task 0 finished: its shard holds one finished run of the sweep.
            sp::RunStore shard = sp::RunStore::open(sweep.shardPath(0));
            sp::NewRun run;
            run.name = "k=1";
            run.config = {{"k", 1}};
            run.model.path = "demo";
            run.sweepId = shard.findOrCreateSweep(sweep.uuid, sweep.name, nlohmann::json::object());
            auto writer = shard.startRun(run);
            writer->addMetric(1, sp::metric_key::TrainS, 2.0);
            writer->addMetric(2, sp::metric_key::TrainS, 1.0);
            writer->finish(sp::RunStatus::Finished);
        }
        {
            std::ofstream log(sweep.logPath(1)); // task 1 ran and failed before storing a run
            log << "softprompt: k must be at least 1 (got 0)\n";
        }
        spui::SlurmSweepPanel panel([&] { return QString::fromStdString(database); });
        QSignalSpy updated(&panel, &spui::SlurmSweepPanel::sweepUpdated);
        panel.follow(QString::fromStdString(sweep.recordPath()), sweepId);
        QTableWidget* table = panel.taskTable();
        QTRY_COMPARE_WITH_TIMEOUT(table->rowCount(), 2, 10000);
        QTRY_VERIFY_WITH_TIMEOUT(table->item(0, 1) && table->item(0, 1)->text() == "COMPLETED", 10000);
        QCOMPARE(table->item(0, 2)->text(), QString("finished"));
        QCOMPARE(table->item(0, 4)->text(), QString("k=1"));
        QCOMPARE(table->item(1, 1)->text(), QString("FAILED"));
        QVERIFY(table->item(1, 1)->toolTip().contains("k must be at least 1")); // the log's tail
        QTRY_VERIFY_WITH_TIMEOUT(!updated.isEmpty(), 10000);
        QCOMPARE(updated.first().first().toLongLong(), qint64(sweepId));
        sp::RunStore open = sp::RunStore::open(database);
        const sp::SweepRecord merged = open.sweep(sweepId);
        QCOMPARE(merged.runIds.size(), std::size_t(1));
        QCOMPARE(open.curve(merged.runIds[0], sp::metric_key::TrainS).steps.size(), std::size_t(2));
    }
};

QTEST_MAIN(TestSlurmPanel)
#include "test_slurm_panel.moc"
