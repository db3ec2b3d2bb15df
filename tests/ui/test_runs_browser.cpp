// The runs browser over a real run store (written through the store's own API, as the CLI does):
// the model passes QAbstractItemModelTester, filters by text/status/tag, writes tags and notes
// back, overlays curves, diffs configs, reopens a run's results and settings, deletes runs, and the
// sweep view plots a sweep's runs.
#include "RunsBrowser.h"
#include "softprompt/train_config_json.h"
#include "RunsModel.h"
#include "Session.h"
#include "SweepView.h"
#include "softprompt/run_recording.h"
#include "ui_test_support.h"

#include <QAbstractItemModelTester>
#include <QCheckBox>
#include <QComboBox>
#include <QSpinBox>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QTableView>
#include <QTemporaryDir>
#include <qcustomplot.h>

namespace {

sp::SoftPrompt smallSigma(int k)
{
    sp::SoftPrompt sigma;
    sigma.k = k;
    sigma.dim = 4;
    for (int i = 0; i < k * 4; ++i)
        sigma.values.push_back(0.25f * float(i));
    return sigma;
}

sp::Evaluation oneQueryEvaluation()
{
    sp::Evaluation evaluation;
    sp::QueryEvaluation query;
    query.query = "User: what is a blorf?\nAssistant:";
    query.heldOut = true;
    for (sp::Condition condition :
         {sp::Condition::FullContext, sp::Condition::SoftPrompt, sp::Condition::NoContext}) {
        sp::ConditionOutcome outcome;
        outcome.condition = condition;
        outcome.prediction = condition == sp::Condition::NoContext ? " no idea" : " A LAMP";
        outcome.s = condition == sp::Condition::NoContext ? 2.5 : 0.1;
        outcome.top1Agrees = condition != sp::Condition::NoContext;
        outcome.exactMatch = outcome.top1Agrees;
        outcome.topK = {{11, " A", 0.8}, {12, " no", 0.1}};
        query.outcomes.push_back(outcome);
    }
    evaluation.queries.push_back(query);
    return evaluation;
}

} // namespace

class TestRunsBrowser : public QObject {
    Q_OBJECT
private slots:
    void initTestCase()
    {
        QVERIFY(dir_.isValid());
        dbPath_ = dir_.filePath("runs.sqlite");
        sp::RunStore store = sp::RunStore::open(dbPath_.toStdString());
        const std::int64_t context = store.putContext("Always answer in capitals.");
        store.setContextTokenCount(context, "model-hash", 400);
        const std::int64_t sweep = store.createSweep("capitals sweep", {{"objective", "kl"}}, context);
        sweepId_ = sweep;
        struct Spec {
            std::string name;
            int k;
            std::string objective;
            sp::RunStatus status;
            std::vector<std::string> tags;
            bool inSweep;
        };
        const Spec specs[] = {{"capitals k2", 2, "kl", sp::RunStatus::Finished, {"baseline"}, true},
                              {"capitals k8", 8, "kl", sp::RunStatus::Finished, {"best", "demo"}, true},
                              {"glossary js", 4, "js", sp::RunStatus::Failed, {}, false}};
        for (const Spec& spec : specs) {
            sp::NewRun run;
            run.name = spec.name;
            sp::TrainConfig config;
            config.k = spec.k;
            config.objective = sp::objectiveFromKey(spec.objective);
            run.config = sp::trainConfigToJson(config);
            run.model.path = "demo";
            run.model.hash = "model-hash";
            run.model.summary = {{"name", "demo"}};
            run.device = "cpu";
            run.contextId = context;
            if (spec.inSweep)
                run.sweepId = sweep;
            run.tags = spec.tags;
            std::unique_ptr<sp::RunWriter> writer = store.startRun(run);
            for (int step = 1; step <= 20; ++step) {
                writer->addMetric(step, sp::metric_key::TrainS, 3.0 / (step * spec.k));
                if (step % 5 == 0) {
                    writer->addMetric(step, sp::metric_key::HeldoutS, 3.5 / (step * spec.k));
                    writer->addMetric(step, sp::metric_key::HeldoutTop1, 0.04 * step);
                }
            }
            writer->checkpoint(20, smallSigma(spec.k));
            if (spec.status == sp::RunStatus::Finished) {
                const sp::Evaluation evaluation = oneQueryEvaluation();
                writer->addEvaluations(sp::toStoredEvaluations(evaluation, 20));
                sp::TrainResult result;
                result.stepsCompleted = 20;
                result.initialTrainS = 3.0;
                result.finalTrainS = 0.1;
                sp::ModelSummary model;
                model.name = "demo";
                writer->setSummary(sp::runSummary(config, result, model, 400, 1.0, &evaluation));
            }
            writer->finish(spec.status, spec.status == sp::RunStatus::Failed
                                            ? "NaN at step 7: lower the learning rate"
                                            : "");
            runIds_.push_back(writer->runId());
        }
    }

    void listsRunsAndPassesTheModelTester()
    {
        spui::Session session;
        session.setDatabasePath(dbPath_);
        spui::RunsBrowser browser(&session);
        QAbstractItemModelTester tester(browser.model(),
                                        QAbstractItemModelTester::FailureReportingMode::QtTest);
        browser.reopenStore();
        QCOMPARE(browser.model()->rowCount(), 3);
        const int failed = browser.model()->rowOfRun(runIds_[2]);
        QCOMPARE(browser.model()->index(failed, spui::RunsModel::StatusColumn).data().toString(),
                 QStringLiteral("failed"));
        QVERIFY(browser.model()
                    ->index(failed, spui::RunsModel::StatusColumn)
                    .data(Qt::ToolTipRole)
                    .toString()
                    .contains("NaN"));
        const int best = browser.model()->rowOfRun(runIds_[1]);
        QCOMPARE(browser.model()->index(best, spui::RunsModel::KColumn).data().toInt(), 8);
        QCOMPARE(browser.model()
                     ->index(best, spui::RunsModel::HeldoutSColumn)
                     .data(spui::RunsModel::SortRole)
                     .toDouble(),
                 3.5 / (20 * 8));
        QCOMPARE(browser.model()->index(best, spui::RunsModel::HeldoutTop1Column).data().toString(),
                 QStringLiteral("80%"));
        // With nothing selected, the newest run is selected so the details and overlay show something.
        QCOMPARE(browser.selectedRunIds(), std::vector<std::int64_t>{runIds_[2]});

        // Filters go to the store's query.
        sp::RunFilter filter;
        filter.text = "capitals";
        browser.model()->setFilter(filter);
        QCOMPARE(browser.model()->rowCount(), 2);
        filter = {};
        filter.status = sp::RunStatus::Failed;
        browser.model()->setFilter(filter);
        QCOMPARE(browser.model()->rowCount(), 1);
        filter = {};
        filter.tag = "best";
        browser.model()->setFilter(filter);
        QCOMPARE(browser.model()->rowCount(), 1);
        browser.model()->setFilter({});
        QCOMPARE(browser.model()->rowCount(), 3);
        // The filter box drives the same thing.
        browser.findChild<QLineEdit*>("runsFilter")->setText("glossary");
        QCOMPARE(browser.model()->rowCount(), 1);
        browser.findChild<QLineEdit*>("runsFilter")->clear();
        QCOMPARE(browser.model()->rowCount(), 3);
    }

    void tagsAndNotesAreWrittenToTheStore()
    {
        spui::Session session;
        session.setDatabasePath(dbPath_);
        spui::RunsBrowser browser(&session);
        browser.reopenStore();
        spui::RunsModel* model = browser.model();
        const int row = model->rowOfRun(runIds_[0]);
        QVERIFY(model->setData(model->index(row, spui::RunsModel::TagsColumn), " keep , compare,keep "));
        QVERIFY(model->setData(model->index(row, spui::RunsModel::NameColumn), "renamed"));
        browser.selectRuns({runIds_[0]});
        browser.findChild<QPlainTextEdit*>("runNotesEdit")->setPlainText("Looks good at k=2.\nTry lr 0.03.");
        browser.findChild<QLineEdit*>("runTagsEdit")->setText("keep, compare, shown");
        QTest::mouseClick(browser.findChild<QPushButton*>("saveRunDetailsButton"), Qt::LeftButton);
        const sp::RunStore store = sp::RunStore::open(dbPath_.toStdString());
        const sp::RunRecord run = store.run(runIds_[0]);
        QCOMPARE(run.name, std::string("renamed"));
        QCOMPARE(run.notes, std::string("Looks good at k=2.\nTry lr 0.03."));
        QCOMPARE(run.tags, (std::vector<std::string>{"compare", "keep", "shown"}));
    }

    void overlayDiffReopenAndLoadConfig()
    {
        spui::Session session;
        session.setDatabasePath(dbPath_);
        spui::RunsBrowser browser(&session);
        browser.reopenStore();
        browser.selectRuns({runIds_[0], runIds_[1]});
        QCOMPARE(browser.selectedRunIds().size(), size_t(2));
        QCOMPARE(browser.overlayPlot()->graphCount(), 2);
        QCOMPARE(browser.overlayPlot()->graph(0)->dataCount(), 4); // held-out s every 5 of 20 steps
        QVERIFY(browser.overlayPlot()->legend->visible());
        QVERIFY(browser.findChild<QPushButton*>("diffRunsButton")->isEnabled());
        const QString diff = browser.diffText(runIds_[0], runIds_[1]);
        QVERIFY2(diff.contains("k") && diff.contains("2 → 8"), qPrintable(diff));
        // Diff shows outcomes too: each run's last held-out s, and σ's answer per query.
        const QString heldout = QStringLiteral("last %1: %2 → %3")
                                    .arg(QLatin1String(sp::metric_key::HeldoutS))
                                    .arg(3.5 / (20 * 2), 0, 'g', 4)
                                    .arg(3.5 / (20 * 8), 0, 'g', 4);
        QVERIFY2(diff.contains(heldout), qPrintable(diff));
        QVERIFY2(diff.contains("User: what is a blorf? ↵ Assistant:: ✓  A LAMP (s 0.1) → ✓  A LAMP (s 0.1)"),
                 qPrintable(diff));
        // Log scale (on by default for s) and smoothing in the overlay.
        auto* logBox = browser.findChild<QCheckBox*>("overlayLogScale");
        auto* smoothing = browser.findChild<QSpinBox*>("overlaySmoothing");
        QVERIFY(logBox && smoothing);
        QVERIFY(logBox->isChecked());
        QCOMPARE(browser.overlayPlot()->yAxis->scaleType(), QCPAxis::stLogarithmic);
        logBox->setChecked(false);
        QCOMPARE(browser.overlayPlot()->yAxis->scaleType(), QCPAxis::stLinear);
        const double rawLast = browser.overlayPlot()->graph(0)->data()->at(3)->value;
        smoothing->setValue(90);
        const double smoothLast = browser.overlayPlot()->graph(0)->data()->at(3)->value;
        // The curve falls: its moving average lags above the raw value (0.9 weight on the past).
        QVERIFY2(smoothLast > rawLast * 1.5, qPrintable(QStringLiteral("%1 vs %2").arg(smoothLast).arg(rawLast)));
        smoothing->setValue(0);
        QCOMPARE(browser.overlayPlot()->graph(0)->data()->at(3)->value, rawLast);

        browser.selectRuns({runIds_[1]});
        QSignalSpy config(&browser, &spui::RunsBrowser::configLoadRequested);
        QTest::mouseClick(browser.findChild<QPushButton*>("loadConfigButton"), Qt::LeftButton);
        QCOMPARE(config.count(), 1);
        QCOMPARE(config.first().first().value<sp::TrainConfig>().k, 8);

        QSignalSpy opened(&browser, &spui::RunsBrowser::outcomeOpened);
        QTest::mouseClick(browser.findChild<QPushButton*>("openRunButton"), Qt::LeftButton);
        QCOMPARE(opened.count(), 1);
        QVERIFY(session.hasOutcome());
        const spui::TrainingOutcome& outcome = session.lastOutcome();
        QCOMPARE(outcome.runId, runIds_[1]);
        QCOMPARE(outcome.config.k, 8);
        QCOMPARE(outcome.contextTokens, 400);
        QCOMPARE(outcome.result.sigma.k, 8);
        QCOMPARE(outcome.evaluation.queries.size(), size_t(1));
        QCOMPARE(outcome.evaluation.queries[0].outcomes.size(), size_t(3));
        const sp::ConditionAggregate* sigma =
            sp::findAggregate(outcome.evaluation.heldout, sp::Condition::SoftPrompt);
        QVERIFY(sigma);
        QCOMPARE(sigma->s.mean, 0.1);
    }

    void sweepViewPlotsFidelityAgainstCompression()
    {
        spui::Session session;
        session.setDatabasePath(dbPath_);
        spui::RunsBrowser browser(&session);
        browser.reopenStore();
        spui::SweepView view(&session, browser.model());
        view.refresh();
        view.showSweep(sweepId_);
        QCOMPARE(view.pointCount(), 2);
        QCOMPARE(view.kPlot()->graph(0)->dataCount(), 2);
        // x of the ratio plot: context tokens / k = 400/8 and 400/2 (QCustomPlot keeps keys sorted).
        auto ratio = view.ratioPlot()->graph(0)->data();
        QCOMPARE(ratio->at(0)->key, 50.0);
        QCOMPARE(ratio->at(1)->key, 200.0);
        QCOMPARE(ratio->at(0)->value, 3.5 / (20 * 8)); // the k = 8 run's last held-out s
        QCOMPARE(view.kPlot()->graph(0)->data()->at(1)->value, 3.5 / (20 * 8));
        // The legend sits outside the axis rect, so it hides no point.
        view.resize(1000, 600);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        for (QCustomPlot* plot : {view.kPlot(), view.ratioPlot()}) {
            plot->replot(QCustomPlot::rpImmediateRefresh);
            QVERIFY(plot->legend->visible());
            QVERIFY(!plot->legend->outerRect().intersects(plot->axisRect()->rect()));
        }
    }

    void contextColumnAndFilter()
    {
        {
            // A run on another context.
            sp::RunStore store = sp::RunStore::open(dbPath_.toStdString());
            sp::NewRun run;
            run.name = "other context";
            run.config = sp::trainConfigToJson(sp::TrainConfig{});
            run.model.path = "demo";
            run.model.hash = "model-hash";
            run.contextId = store.putContext("You are a glossary of Portuguese pastry terms, be precise.");
            std::unique_ptr<sp::RunWriter> writer = store.startRun(run);
            writer->finish(sp::RunStatus::Finished, "");
            otherContextRun_ = writer->runId();
        }
        spui::Session session;
        session.setDatabasePath(dbPath_);
        spui::RunsBrowser browser(&session);
        browser.reopenStore();
        const int other = browser.model()->rowOfRun(otherContextRun_);
        QVERIFY(other >= 0);
        QCOMPARE(browser.model()->index(other, spui::RunsModel::ContextColumn).data().toString(),
                 QStringLiteral("“You are a glossary of Portuguese…”"));
        const int first = browser.model()->rowOfRun(runIds_[0]);
        QCOMPARE(browser.model()->index(first, spui::RunsModel::ContextColumn).data().toString(),
                 QStringLiteral("“Always answer in capitals.”"));
        auto* filter = browser.findChild<QComboBox*>("contextFilter");
        QVERIFY(filter);
        QCOMPARE(filter->count(), 3); // any, and the two contexts
        const int index = filter->findText("Portuguese", Qt::MatchContains);
        QVERIFY(index > 0);
        filter->setCurrentIndex(index);
        QCOMPARE(browser.model()->rowCount(), 1);
        QCOMPARE(browser.model()->runAt(0)->id, otherContextRun_);
        filter->setCurrentIndex(0);
        QCOMPARE(browser.model()->rowCount(), 4);
        sp::RunStore::open(dbPath_.toStdString()).deleteRun(otherContextRun_); // the later tests count runs
    }

    // PEFT records σ's init text; for a run initialised from the context that is the context.
    void peftExportWithholdsTheContextOnRequest()
    {
        spui::Session session;
        session.setDatabasePath(dbPath_);
        spui::RunsBrowser browser(&session);
        browser.reopenStore();
        QVERIFY(browser.peftWouldWriteContext(runIds_[1]));
        QTemporaryDir out;
        QString error;
        QVERIFY2(browser.exportPeftTo(runIds_[1], out.filePath("labelled"), "capitals bot (withheld)", &error),
                 qPrintable(error));
        auto readConfig = [](const QString& folder) {
            QFile file(QDir(folder).filePath("adapter_config.json"));
            return file.open(QIODevice::ReadOnly) ? QString::fromUtf8(file.readAll()) : QString();
        };
        const QString labelled = readConfig(out.filePath("labelled"));
        QVERIFY2(labelled.contains("\"prompt_tuning_init_text\": \"capitals bot (withheld)\""), qPrintable(labelled));
        QVERIFY(!labelled.contains("Always answer in capitals"));
        QVERIFY(QFileInfo::exists(QDir(out.filePath("labelled")).filePath("adapter_model.safetensors")));
        // The adapter still reads back (the core's reader), with σ intact.
        sp::RunStore store = sp::RunStore::open(dbPath_.toStdString());
        const std::int64_t imported = store.importPeft(out.filePath("labelled").toStdString());
        QCOMPARE(store.loadSigma(imported).values, store.loadSigma(runIds_[1]).values);
        store.deleteRun(imported); // the later tests count runs
        QVERIFY2(browser.exportPeftTo(runIds_[1], out.filePath("full"), QString(), &error), qPrintable(error));
        QVERIFY(readConfig(out.filePath("full")).contains("Always answer in capitals"));
    }

    void deletesRuns()
    {
        spui::Session session;
        session.setDatabasePath(dbPath_);
        spui::RunsBrowser browser(&session);
        QAbstractItemModelTester tester(browser.model(),
                                        QAbstractItemModelTester::FailureReportingMode::QtTest);
        browser.reopenStore();
        browser.selectRuns({runIds_[2]});
        browser.deleteSelected(false);
        QCOMPARE(browser.model()->rowCount(), 2);
        QCOMPARE(browser.model()->rowOfRun(runIds_[2]), -1);
        const sp::RunStore store = sp::RunStore::open(dbPath_.toStdString());
        QVERIFY(!store.findRun(runIds_[2]));
    }

    void aBrokenDatabaseIsReportedNotFatal()
    {
        QTemporaryDir dir;
        QFile junk(dir.filePath("junk.sqlite"));
        QVERIFY(junk.open(QIODevice::WriteOnly));
        junk.write(QByteArray(4096, 'x'));
        junk.close();
        spui::Session session;
        session.setDatabasePath(junk.fileName());
        spui::RunsBrowser browser(&session);
        QSignalSpy errors(browser.model(), &spui::RunsModel::storeError);
        browser.reopenStore();
        QVERIFY(errors.count() >= 1);
        QCOMPARE(browser.model()->rowCount(), 0);
        QVERIFY(!browser.model()->lastError().isEmpty());
        QVERIFY(browser.findChild<QLabel*>("storeLabel")->text().contains("cannot be used"));
    }

private:
    QTemporaryDir dir_;
    std::int64_t otherContextRun_ = 0;
    QString dbPath_;
    std::int64_t sweepId_ = 0;
    std::vector<std::int64_t> runIds_;
};

SPUI_TEST_MAIN(TestRunsBrowser)
#include "test_runs_browser.moc"
