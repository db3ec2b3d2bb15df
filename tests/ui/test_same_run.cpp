// The GUI and the CLI are two callers of one training session: the same config and seed on the demo
// model give the same stored run. The GUI's TrainingWorker trains into one database and
// `softprompt train` into another; the test then compares what was stored: the run's config, model
// and query set, the curve values, σ's bytes at every checkpoint, every evaluation row and the
// summary (all but the wall-clock times).
//
// Both run on the CPU with one thread (OMP_NUM_THREADS=1, OPENBLAS_NUM_THREADS=1 in the test's
// environment), so the same seed gives the same σ bit for bit: values are compared exactly.
#include "TrainingWorker.h"
#include "softprompt/paths.h"
#include "softprompt/run_store.h"
#include "ui_test_support.h"

#include <QProcess>
#include <QSignalSpy>
#include <QTemporaryDir>

#include <nlohmann/json.hpp>

namespace {

const char* const kExample = SP_SOURCE_DIR "/resources/examples/bank-vienna";

sp::TrainConfig sameConfig()
{
    sp::TrainConfig config;
    config.k = 2;
    config.steps = 6;
    config.learningRate = 0.05;
    config.batchSize = 2;
    config.warmupSteps = 2;
    config.evalInterval = 3;
    config.checkpointInterval = 3;
    config.seed = 11;
    config.objective = sp::Objective::ForwardKL;
    config.init = sp::InitKind::Text;
    return config;
}

// The same settings as `softprompt train` options (the rest are TrainConfig's defaults on both sides).
QStringList sameArguments()
{
    return {"--k",      "2",          "--steps",      "6", "--lr",         "0.05", "--batch", "2",
            "--warmup", "2",          "--eval-every", "3", "--checkpoint-every", "3",    "--seed",  "11",
            "--objective", "kl",      "--init",       "text"};
}

nlohmann::json withoutTimes(nlohmann::json summary)
{
    summary.erase("train_seconds");
    return summary;
}

} // namespace

class TestSameRun : public QObject {
    Q_OBJECT
private:
    QTemporaryDir folder_;

private slots:
    void initTestCase()
    {
        try {
            sp::demoModelDirectory();
        } catch (const std::exception& error) {
            QSKIP(qPrintable(QStringLiteral("the demo model is not available: %1").arg(error.what())));
        }
        QCOMPARE(qgetenv("OMP_NUM_THREADS"), QByteArray("1")); // set by CTest: bitwise equality needs it
        QVERIFY(folder_.isValid());
    }

    void guiAndCliStoreTheSameRun()
    {
        // The inputs: a shipped example's context, four of its training and two of its held-out
        // queries, written where the CLI reads them ("same.jsonl" names the query set "same", the
        // name the GUI gives it from the run name).
        const std::string context = sp::readTextFile(std::string(kExample) + "/context.txt");
        std::vector<sp::Query> train = sp::readQueriesJsonl(std::string(kExample) + "/train.jsonl");
        std::vector<sp::Query> heldOut = sp::readQueriesJsonl(std::string(kExample) + "/heldout.jsonl", true);
        QVERIFY(train.size() >= 4 && heldOut.size() >= 2);
        train.resize(4);
        heldOut.resize(2);
        const QString trainPath = folder_.filePath("same.jsonl");
        const QString heldOutPath = folder_.filePath("heldout.jsonl");
        sp::writeQueriesJsonl(trainPath.toStdString(), train);
        sp::writeQueriesJsonl(heldOutPath.toStdString(), heldOut);
        std::vector<sp::Query> queries = train;
        queries.insert(queries.end(), heldOut.begin(), heldOut.end());

        // The GUI: the worker's train job, as the Train button queues it.
        const QString guiDatabase = folder_.filePath("gui.sqlite");
        spui::TrainingJob job;
        job.model = sp::ModelHandle::load("demo", {});
        job.modelSource = "demo";
        job.context = context;
        job.queries = queries;
        job.config = sameConfig();
        job.databasePath = guiDatabase;
        job.runName = "same";
        spui::TrainingWorker worker;
        QSignalSpy finished(&worker, &spui::TrainingWorker::trainingFinished);
        worker.train(job); // on this thread: the signals are delivered directly
        QCOMPARE(finished.count(), 1);
        const spui::TrainingOutcome gui = finished.first().first().value<spui::TrainingOutcome>();
        QVERIFY2(gui.status == sp::RunStatus::Finished, qPrintable(gui.message));
        QVERIFY2(gui.storeWarning.isEmpty(), qPrintable(gui.storeWarning));

        // The CLI: `softprompt train` with the same settings.
        const QString cliDatabase = folder_.filePath("cli.sqlite");
        QProcess cli;
        cli.start(SP_CLI_PATH, QStringList{"train", "--model", "demo", "--context",
                                           QString(kExample) + "/context.txt", "--queries", trainPath,
                                           "--heldout", heldOutPath, "--name", "same", "--db", cliDatabase,
                                           "--json"}
                                   << sameArguments());
        QVERIFY(cli.waitForFinished(300000));
        QVERIFY2(cli.exitCode() == 0, cli.readAllStandardError().constData());
        const nlohmann::json cliJson = nlohmann::json::parse(cli.readAllStandardOutput().toStdString());

        const sp::RunStore guiStore = sp::RunStore::open(guiDatabase.toStdString());
        const sp::RunStore cliStore = sp::RunStore::open(cliDatabase.toStdString());
        const sp::RunRecord guiRun = guiStore.run(gui.runId);
        const sp::RunRecord cliRun = cliStore.run(cliJson["run_id"].get<std::int64_t>());

        // The run: name, status, message, config, model, device, inputs.
        QCOMPARE(cliRun.name, guiRun.name);
        QCOMPARE(cliRun.status, sp::RunStatus::Finished);
        QCOMPARE(guiRun.status, sp::RunStatus::Finished);
        QCOMPARE(cliRun.error, guiRun.error);
        QCOMPARE(cliRun.config, guiRun.config);
        QCOMPARE(cliRun.model.path, guiRun.model.path);
        QCOMPARE(cliRun.model.hash, guiRun.model.hash);
        QCOMPARE(cliRun.device, guiRun.device);
        QCOMPARE(cliStore.context(*cliRun.contextId).text, guiStore.context(*guiRun.contextId).text);
        const sp::QuerySetRecord cliQueries = cliStore.querySet(*cliRun.querySetId);
        const sp::QuerySetRecord guiQueries = guiStore.querySet(*guiRun.querySetId);
        QCOMPARE(cliQueries.name, guiQueries.name);
        QCOMPARE(cliQueries.hash, guiQueries.hash);

        // The curve: every deterministic metric, point for point.
        for (const char* metric : {sp::metric_key::TrainS, sp::metric_key::TrainTop1, sp::metric_key::HeldoutS,
                                   sp::metric_key::HeldoutTop1, sp::metric_key::LearningRate,
                                   sp::metric_key::GradNorm}) {
            const sp::MetricCurve cliCurve = cliStore.curve(cliRun.id, metric);
            const sp::MetricCurve guiCurve = guiStore.curve(guiRun.id, metric);
            QVERIFY2(!guiCurve.values.empty(), metric);
            QVERIFY2(cliCurve.steps == guiCurve.steps, metric);
            QVERIFY2(cliCurve.values == guiCurve.values, metric);
        }
        QCOMPARE(int(guiStore.curve(guiRun.id, sp::metric_key::TrainS).values.size()), 6);

        // σ: the same checkpoints, byte for byte.
        const std::vector<sp::CheckpointInfo> cliCheckpoints = cliStore.checkpoints(cliRun.id);
        const std::vector<sp::CheckpointInfo> guiCheckpoints = guiStore.checkpoints(guiRun.id);
        QCOMPARE(cliCheckpoints.size(), guiCheckpoints.size());
        QCOMPARE(int(guiCheckpoints.size()), 2); // steps 3 and 6
        for (std::size_t i = 0; i < guiCheckpoints.size(); ++i) {
            QCOMPARE(cliCheckpoints[i].step, guiCheckpoints[i].step);
            QVERIFY(cliStore.sigmaSafetensors(cliRun.id, cliCheckpoints[i].step) ==
                    guiStore.sigmaSafetensors(guiRun.id, guiCheckpoints[i].step));
        }

        // The evaluations: one row per query and condition, the same in every field.
        const std::vector<sp::StoredEvaluation> cliRows = cliStore.evaluations(cliRun.id);
        const std::vector<sp::StoredEvaluation> guiRows = guiStore.evaluations(guiRun.id);
        QCOMPARE(int(guiRows.size()), 6 * int(sp::allConditions().size()));
        QCOMPARE(cliRows.size(), guiRows.size());
        for (std::size_t i = 0; i < guiRows.size(); ++i) {
            QCOMPARE(cliRows[i].query, guiRows[i].query);
            QCOMPARE(cliRows[i].heldOut, guiRows[i].heldOut);
            QCOMPARE(cliRows[i].condition, guiRows[i].condition);
            QCOMPARE(cliRows[i].prediction, guiRows[i].prediction);
            QCOMPARE(cliRows[i].s, guiRows[i].s);
            QCOMPARE(cliRows[i].details, guiRows[i].details);
            QCOMPARE(cliRows[i].sigmaStep, guiRows[i].sigmaStep);
            QCOMPARE(cliRows[i].topK.size(), guiRows[i].topK.size());
        }

        // The summary: everything but the wall-clock time.
        QCOMPARE(withoutTimes(cliRun.summary), withoutTimes(guiRun.summary));
    }
};

SPUI_TEST_MAIN(TestSameRun)
#include "test_same_run.moc"
