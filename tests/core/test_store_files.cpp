// The run store and the files it is given: damaged, foreign, newer, read-only, locked, full, old.
// A file the store refuses must be left byte for byte as it was.
#include "store_support/store_test_util.h"

#include "softprompt/error.h"
#include "softprompt/run_store.h"
#include "store/schema.h"

#include <QFile>
#include <QTemporaryDir>
#include <QtTest>

#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <thread>

using namespace storetest;

namespace {

std::string databaseIn(const QTemporaryDir& folder, const char* name = "runs.sqlite")
{
    return QDir(folder.path()).filePath(name).toStdString();
}

// A store with two finished runs, closed (so its journal is folded into the file).
void createPopulatedStore(const std::string& path)
{
    sp::RunStore store = sp::RunStore::open(path);
    for (int r = 0; r < 2; ++r) {
        auto writer = store.startRun(exampleRun("run " + std::to_string(r)));
        for (int step = 1; step <= 300; ++step)
            writer->addMetrics(step, {{"train_s", metricValue(step, 0)}, {"lr", metricValue(step, 1)}});
        writer->checkpoint(300, sigmaForStep(300, 16, 64));
        writer->finish(sp::RunStatus::Finished);
    }
}

void writeBytes(const std::string& path, const std::string& bytes)
{
    QFile file(QString::fromStdString(path));
    QVERIFY(file.open(QIODevice::WriteOnly | QIODevice::Truncate));
    QCOMPARE(file.write(bytes.data(), static_cast<qint64>(bytes.size())), static_cast<qint64>(bytes.size()));
}

// Opens `path`, expecting an sp::Error whose message holds every one of `phrases`.
QString expectRefusal(const std::string& path, const QStringList& phrases, sp::StoreOptions options = {})
{
    try {
        sp::RunStore::open(path, options);
    } catch (const sp::Error& error) {
        const QString message = QString::fromUtf8(error.what());
        qInfo().noquote() << "refused:" << message;
        for (const QString& phrase : phrases)
            if (!message.contains(phrase, Qt::CaseInsensitive))
                return "message lacks \"" + phrase + "\": " + message;
        if (!message.contains(QString::fromStdString(path)))
            return "message does not name the file: " + message;
        return {};
    }
    return "the file was opened";
}

} // namespace

class TestStoreFiles : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void damagedOrForeignFileIsRefusedAndLeftAlone_data()
    {
        QTest::addColumn<QString>("damage");
        QTest::addColumn<QStringList>("phrases");
        QTest::newRow("random bytes") << "random" << QStringList{"not a SQLite database", "choose another database file"};
        QTest::newRow("text file") << "text" << QStringList{"not a SQLite database", "left exactly as it is"};
        QTest::newRow("cut inside the header") << "short" << QStringList{"not a SQLite database"};
        // SQLite itself reports a 1-byte file as empty.
        QTest::newRow("one byte") << "one byte" << QStringList{"not a SQLite database (only 1 byte)"};
        QTest::newRow("truncated to half") << "truncate" << QStringList{"damaged", ".recover", "choose a new database file"};
        QTest::newRow("invalid page size") << "page size" << QStringList{"damaged", ".recover"};
        QTest::newRow("zeroed schema page") << "schema" << QStringList{"damaged", "left exactly as it is"};
        QTest::newRow("another program's database")
            << "foreign" << QStringList{"another program", "invoices"};
    }
    void damagedOrForeignFileIsRefusedAndLeftAlone()
    {
        QFETCH(QString, damage);
        QFETCH(QStringList, phrases);
        QTemporaryDir folder;
        const std::string path = databaseIn(folder);
        if (damage == "random") {
            std::mt19937 generator(7);
            std::string bytes(8192, '\0');
            for (char& byte : bytes)
                byte = static_cast<char>(generator());
            writeBytes(path, bytes);
        } else if (damage == "text") {
            writeBytes(path, "step,train_s\n1,0.5\n2,0.25\n");
        } else if (damage == "one byte") {
            writeBytes(path, "x");
        } else if (damage == "short") {
            writeBytes(path, std::string("SQLite format 3\0\x10\x00\x02\x02", 20));
        } else if (damage == "foreign") {
            RawDatabase other(path);
            other.exec("CREATE TABLE invoices(id INTEGER PRIMARY KEY, total REAL); INSERT INTO invoices "
                       "VALUES(1, 9.5)");
        } else {
            createPopulatedStore(path);
            QVERIFY(!std::filesystem::exists(path + "-wal"));
            std::string bytes = fileBytes(path);
            const std::size_t pageSize =
                (static_cast<unsigned char>(bytes[16]) << 8) | static_cast<unsigned char>(bytes[17]);
            if (damage == "truncate")
                bytes.resize(bytes.size() / 2);
            else if (damage == "page size")
                bytes[16] = 0x03, bytes[17] = 0x00; // 768: not a power of two
            else if (damage == "schema")
                std::fill(bytes.begin() + 100, bytes.begin() + static_cast<std::ptrdiff_t>(pageSize), '\0');
            writeBytes(path, bytes);
        }
        const std::string before = fileBytes(path);
        const QString problem = expectRefusal(path, phrases);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
        QVERIFY(fileBytes(path) == before);
        // Refusing twice changes nothing either (no "repair" on a second try).
        QVERIFY(expectRefusal(path, phrases).isEmpty());
        QVERIFY(fileBytes(path) == before);
    }

    void newerSchemaIsRefusedAndLeftAlone()
    {
        QTemporaryDir folder;
        const std::string path = databaseIn(folder);
        createPopulatedStore(path);
        const int newer = sp::RunStore::currentSchemaVersion() + 1;
        {
            RawDatabase raw(path);
            raw.exec("PRAGMA user_version = " + std::to_string(newer));
        }
        const std::string before = fileBytes(path);
        const QString problem = expectRefusal(
            path, {"newer", "schema version " + QString::number(newer),
                   "reads up to version " + QString::number(sp::RunStore::currentSchemaVersion())});
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
        QVERIFY(fileBytes(path) == before);
    }

    void readOnlyFileOrFolderIsRefused()
    {
        QTemporaryDir folder;
        const std::string path = databaseIn(folder);
        createPopulatedStore(path);
        const std::string before = fileBytes(path);
        QVERIFY(chmod(path.c_str(), 0444) == 0);
        QString problem = expectRefusal(path, {"read-only", "chmod u+w", "choose another database file"});
        QVERIFY(chmod(path.c_str(), 0644) == 0);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
        QVERIFY(fileBytes(path) == before);

        const std::string folderPath = folder.path().toStdString();
        QVERIFY(chmod(folderPath.c_str(), 0555) == 0);
        problem = expectRefusal(path, {"folder", "read-only"});
        QVERIFY(chmod(folderPath.c_str(), 0755) == 0);
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
        QVERIFY(fileBytes(path) == before);
        sp::RunStore::open(path); // writable again: opens
    }

    void exclusivelyLockedFileIsRefused()
    {
        QTemporaryDir folder;
        const std::string path = databaseIn(folder);
        createPopulatedStore(path);
        sp::StoreOptions options;
        options.busyTimeoutMs = 200;
        {
            RawDatabase other(path);
            other.exec("PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; UPDATE runs SET notes = 'mine'");
            const auto start = std::chrono::steady_clock::now();
            const QString problem = expectRefusal(path, {"locked", "another", "choose another database file"}, options);
            const auto waited = std::chrono::steady_clock::now() - start;
            QVERIFY2(problem.isEmpty(), qPrintable(problem));
            QVERIFY(waited >= std::chrono::milliseconds(150)); // it waited the busy timeout first
            other.exec("ROLLBACK");
        }
        sp::RunStore store = sp::RunStore::open(path, options);
        QCOMPARE(store.listRuns().size(), std::size_t(2));
    }

    void writeLockHeldElsewhereGivesALockedError()
    {
        QTemporaryDir folder;
        const std::string path = databaseIn(folder);
        createPopulatedStore(path);
        sp::StoreOptions options;
        options.busyTimeoutMs = 200;
        sp::RunStore store = sp::RunStore::open(path, options);
        const std::int64_t runId = store.listRuns().front().id;
        RawDatabase other(path);
        other.exec("BEGIN IMMEDIATE; UPDATE runs SET notes = 'other writer'");
        QCOMPARE(store.listRuns().size(), std::size_t(2)); // readers are not blocked (WAL)
        try {
            store.setNotes(runId, "mine");
            QFAIL("expected sp::Error");
        } catch (const sp::Error& error) {
            QVERIFY2(QString(error.what()).contains("locked by another program"), error.what());
        }
        QVERIFY_THROWS_EXCEPTION(sp::Error, store.startRun(exampleRun("blocked")));
        other.exec("COMMIT");
        store.setNotes(runId, "mine");
        QCOMPARE(store.run(runId).notes, std::string("mine"));
        auto writer = store.startRun(exampleRun("unblocked"));
        writer->finish(sp::RunStatus::Finished);
    }

    void fullDiskLosesNothing()
    {
        QTemporaryDir folder;
        const std::string path = databaseIn(folder);
        sp::RunStore unlimited = sp::RunStore::open(path);
        // A large run whose deletion will later free room.
        std::int64_t bigRun = 0;
        {
            auto writer = unlimited.startRun(exampleRun("big", 256));
            writer->checkpoint(1, sigmaForStep(1, 256, 256)); // 256 KiB of σ
            writer->finish(sp::RunStatus::Finished);
            bigRun = writer->runId();
        }
        const long long pages = RawDatabase(path).integer("PRAGMA page_count");
        sp::StoreOptions limited;
        limited.maxPageCount = pages + 4; // a real SQLITE_FULL a few pages from now
        limited.flushIntervalMs = 60000;  // only explicit flushes in this test
        sp::RunStore store = sp::RunStore::open(path, limited);
        auto writer = store.startRun(exampleRun("filling"));
        for (int step = 1; step <= 10; ++step)
            writer->addMetric(step, "train_s", metricValue(step, 0));
        writer->flush();
        for (int step = 11; step <= 6000; ++step)
            writer->addMetric(step, "train_s", metricValue(step, 0));
        try {
            writer->flush();
            QFAIL("expected a disk-full sp::Error");
        } catch (const sp::Error& error) {
            QVERIFY2(QString(error.what()).contains("disk is full"), error.what());
            QVERIFY2(QString(error.what()).contains("free some space"), error.what());
        }
        QCOMPARE(writer->lastCommittedStep(), 10);
        QCOMPARE(integrityCheck(path), std::string("ok"));
        QCOMPARE(unlimited.curve(writer->runId(), "train_s").steps.size(),
                 std::size_t(10)); // committed part kept

        // The user frees room; the buffered points were kept and now go in.
        unlimited.deleteRun(bigRun);
        writer->flush();
        writer->finish(sp::RunStatus::Finished);
        const sp::MetricCurve curve = unlimited.curve(writer->runId(), "train_s");
        QCOMPARE(curve.steps.size(), std::size_t(6000));
        QCOMPARE(curve.values.back(), metricValue(6000, 0));
        QCOMPARE(integrityCheck(path), std::string("ok"));
    }

    void fullDiskDuringBackgroundFlushIsReportedToTheTrainer()
    {
        QTemporaryDir folder;
        const std::string path = databaseIn(folder);
        std::int64_t bigRun = 0;
        {
            sp::RunStore setup = sp::RunStore::open(path);
            auto writer = setup.startRun(exampleRun("big", 256));
            writer->checkpoint(1, sigmaForStep(1, 256, 256));
            writer->finish(sp::RunStatus::Finished);
            bigRun = writer->runId();
        }
        sp::StoreOptions limited;
        limited.maxPageCount = RawDatabase(path).integer("PRAGMA page_count") + 4;
        limited.flushIntervalMs = 40;
        sp::RunStore store = sp::RunStore::open(path, limited);
        auto writer = store.startRun(exampleRun("filling"));
        bool reported = false;
        // false when the writer refuses the point (it is not queued then).
        auto tryAdd = [&](int step) {
            try {
                writer->addMetric(step, "train_s", metricValue(step, 0));
                return true;
            } catch (const sp::Error& error) {
                reported = reported || QString(error.what()).contains("disk is full");
                return false;
            }
        };
        // On a busy machine the background flush can hit the full disk before all 6000 points are
        // queued: the first refused step is added again once there is room.
        int step = 1;
        while (step <= 6000 && tryAdd(step))
            ++step;
        for (int attempt = 0; attempt < 200 && !reported; ++attempt) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            tryAdd(6001);
        }
        QVERIFY2(reported, "the background flush's disk-full error never reached the training thread");
        sp::RunStore::open(path).deleteRun(bigRun);
        // A background attempt that failed before the space was freed may still be waiting to be
        // reported; a flush now retries at once and reports for itself.
        writer->flush();
        for (; step <= 6000; ++step)
            writer->addMetric(step, "train_s", metricValue(step, 0));
        writer->addMetric(6001, "train_s", metricValue(6001, 0));
        writer->finish(sp::RunStatus::Finished);
        QCOMPARE(store.curve(writer->runId(), "train_s").steps.size(), std::size_t(6001));
    }

    void version1FileIsMigratedWithItsData()
    {
        QTemporaryDir folder;
        const std::string path = databaseIn(folder);
        sp::StoreOptions options;
        {
            sp::store::Database v1 = sp::store::openStoreDatabase(path, options, 1);
            QCOMPARE(sp::store::userVersion(v1), 1);
        }
        const std::string sigmaBytes = sp::softPromptToSafetensors(sigmaForStep(40));
        {
            RawDatabase raw(path);
            raw.exec("INSERT INTO contexts(id, hash, text, created_at) VALUES(1, 'h', 'old context', 1000)");
            raw.exec(
                "INSERT INTO runs(id, name, status, config, model_path, model_hash, model_summary, device, "
                "context_id, started_at, ended_at, tags, notes) VALUES(1, 'old run', 'finished', "
                "'{\"k\":4,\"learningRate\":0.02}', '/m', 'mh', '{\"hiddenSize\":8}', 'cpu', 1, 1000, 2000, "
                "'alpha, beta,', 'kept notes')");
            raw.exec(
                "INSERT INTO runs(id, name, status, config, model_path, model_hash, model_summary, device, "
                "started_at) VALUES(2, 'crashed under v1', 'running', '{}', '/m', 'mh', '{}', 'cpu', 1500)");
            raw.exec("INSERT INTO metric_names(id, name) VALUES(1, 'train_s'), (2, 'heldout_s')");
            for (int step = 1; step <= 40; ++step)
                raw.exec("INSERT INTO metrics VALUES(1, 1, " + std::to_string(step) + ", " +
                         std::to_string(100 - step) + ")");
            raw.exec("INSERT INTO metrics VALUES(1, 2, 30, 7.5)");
            sqlite3* handle = nullptr;
            sqlite3_open(path.c_str(), &handle);
            sqlite3_stmt* insert = nullptr;
            sqlite3_prepare_v2(handle, "INSERT INTO checkpoints VALUES(1, 40, ?, 2000)", -1, &insert,
                               nullptr);
            sqlite3_bind_blob(insert, 1, sigmaBytes.data(), static_cast<int>(sigmaBytes.size()),
                              SQLITE_TRANSIENT);
            QCOMPARE(sqlite3_step(insert), SQLITE_DONE);
            sqlite3_finalize(insert);
            sqlite3_close(handle);
            raw.exec(
                "INSERT INTO evaluations(run_id, query, held_out, condition, prediction, s, top_k, details) "
                "VALUES(1, 'q?', 1, 'sigma', ' yes', 0.25, '[]', '{}')");
        }
        QCOMPARE(RawDatabase(path).integer("PRAGMA user_version"), 1LL);

        sp::RunStore store = sp::RunStore::open(path);
        QCOMPARE(store.schemaVersion(), sp::RunStore::currentSchemaVersion());
        const sp::RunRecord run = store.run(1);
        QCOMPARE(run.name, std::string("old run"));
        QCOMPARE(run.tags, (std::vector<std::string>{"alpha", "beta"})); // moved into run_tags
        QCOMPARE(run.notes, std::string("kept notes"));
        QCOMPARE(run.config["learningRate"].get<double>(), 0.02);
        QCOMPARE(run.lastStep, 40); // backfilled from the curve
        QCOMPARE(run.lastMetrics["train_s"].get<double>(), 60.0);
        QCOMPARE(run.lastMetrics["heldout_s"].get<double>(), 7.5);
        QCOMPARE(store.curve(1, "train_s").steps.size(), std::size_t(40));
        QCOMPARE(store.loadSigma(1).values, sigmaForStep(40).values);
        QCOMPARE(store.evaluations(1).size(), std::size_t(1));
        QCOMPARE(store.context(1).text, std::string("old context"));
        sp::RunFilter byTag;
        byTag.tag = "beta";
        QCOMPARE(store.listRuns(byTag).size(), std::size_t(1));
        QCOMPARE(store.run(2).status, sp::RunStatus::Interrupted); // no live writer recorded
        // Features of the new version work on the migrated file.
        const std::int64_t sweep = store.createSweep("after migration", {{"k", 4}}, 1);
        sp::NewRun newRun = exampleRun("new");
        newRun.sweepId = sweep;
        store.startRun(newRun)->finish(sp::RunStatus::Finished);
        QCOMPARE(store.sweep(sweep).runIds.size(), std::size_t(1));
        QCOMPARE(integrityCheck(path), std::string("ok"));
    }

    void emptyFileBecomesAStore()
    {
        QTemporaryDir folder;
        const std::string path = databaseIn(folder);
        writeBytes(path, "");
        sp::RunStore store = sp::RunStore::open(path);
        QCOMPARE(store.schemaVersion(), sp::RunStore::currentSchemaVersion());
        // Opening again (as the CLI does next to the GUI) migrates nothing and keeps the runs.
        store.startRun(exampleRun("x"))->finish(sp::RunStatus::Finished);
        sp::RunStore again = sp::RunStore::open(path);
        QCOMPARE(again.listRuns().size(), std::size_t(1));
    }

    void folderInsteadOfFileIsRefused()
    {
        QTemporaryDir folder;
        const QString problem = expectRefusal(folder.path().toStdString(), {"not a regular file"});
        QVERIFY2(problem.isEmpty(), qPrintable(problem));
    }

    void defaultLocationFollowsXdgDataHome()
    {
        QTemporaryDir folder;
        qputenv("XDG_DATA_HOME", folder.path().toUtf8());
        {
            sp::RunStore store = sp::RunStore::openDefault();
            QCOMPARE(QString::fromStdString(store.path()),
                     folder.path() + "/softprompt-workbench/runs.sqlite");
        }
        qunsetenv("XDG_DATA_HOME");
        QVERIFY(QFileInfo::exists(folder.path() + "/softprompt-workbench/runs.sqlite"));
    }
};

QTEST_GUILESS_MAIN(TestStoreFiles)
#include "test_store_files.moc"
