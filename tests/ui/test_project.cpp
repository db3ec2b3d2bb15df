// The user's work is never lost: project files round-trip, the title carries a dirty marker, the
// window asks before an example, a context file, a new project or a run's work replaces unsaved
// changes, query edits and removals undo, a run's context and queries come back from the database,
// unsaved work survives quitting, and the context's label follows its text.
#include "ContextEditor.h"
#include "MainWindow.h"
#include "Project.h"
#include "QueryEditor.h"
#include "QueryTableModel.h"
#include "RunsBrowser.h"
#include "RunsModel.h"
#include "Session.h"
#include "TrainingPanel.h"
#include "softprompt/error.h"
#include "softprompt/run_store.h"
#include "softprompt/train_config_json.h"
#include "evaluation_fixture.h"
#include "ui_test_support.h"

#include <QPlainTextEdit>
#include <QSettings>
#include <QSpinBox>

#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QPushButton>
#include <QTableView>
#include <QTemporaryDir>
#include <QTimer>
#include <QUndoStack>

namespace {

// Answers the next "unsaved changes" question with `button` once it is up.
void answerNextConfirmation(QMessageBox::StandardButton button, bool* asked)
{
    *asked = false;
    QTimer::singleShot(0, [button, asked] {
        for (QWidget* widget : QApplication::topLevelWidgets())
            if (auto* box = qobject_cast<QMessageBox*>(widget);
                box && box->objectName() == QLatin1String("confirmReplaceBox") && box->isVisible()) {
                *asked = true;
                box->button(button)->click();
                return;
            }
    });
}

void writeFile(const QString& path, const QByteArray& bytes)
{
    QFile file(path);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write(bytes);
}

// An examples folder with two examples, as the shipped one is laid out.
void writeExamples(const QString& root)
{
    const QDir examples(QDir(root).filePath("examples"));
    QVERIFY(examples.mkpath("shop"));
    QVERIFY(examples.mkpath("lisbon"));
    writeFile(examples.filePath("examples.json"),
              R"({"examples": [{"id": "lisbon", "title": "Support bot in Lisbon"}, {"id": "shop", "title": "Shop"}]})");
    writeFile(examples.filePath("lisbon/context.txt"), "You are a support bot in Lisbon.\n");
    writeFile(examples.filePath("lisbon/train.jsonl"), "{\"query\": \"Where?\"}\n{\"query\": \"When?\"}\n");
    writeFile(examples.filePath("shop/context.txt"), "Always answer politely.\n");
    writeFile(examples.filePath("shop/train.jsonl"), "{\"query\": \"Hello?\"}\n");
}

QAction* findAction(QMenu* menu, const QString& text)
{
    for (QAction* action : menu->actions())
        if (action->text().remove('&') == text)
            return action;
    return nullptr;
}

} // namespace

class TestProject : public QObject {
    Q_OBJECT
private slots:
    void initTestCase()
    {
        QVERIFY(data_.isValid());
        writeExamples(data_.path());
        qputenv("SOFTPROMPT_DATA_DIR", data_.path().toUtf8());
    }

    void projectFileRoundTrips()
    {
        spui::ProjectData data;
        data.contextName = "glossary";
        data.context = "Line one\nünïcødé ✓\n\"quoted\"";
        data.queryTemplate = "User: {q}\nAssistant:";
        data.queries = {{"User: a?\nAssistant:", "yes", false}, {"b", "", true}};
        sp::TrainConfig config;
        config.k = 12;
        config.target = sp::TargetKind::Continuation;
        data.trainingJson = QString::fromStdString(sp::trainConfigToJson(config).dump());
        data.sweepKs = "1,3,9";
        const QString path = dir_.filePath("round.spwb");
        spui::writeProjectFile(path, data);
        const spui::ProjectData read = spui::readProjectFile(path);
        QCOMPARE(read.contextName, data.contextName);
        QCOMPARE(read.context, data.context);
        QCOMPARE(read.queryTemplate, data.queryTemplate);
        QCOMPARE(read.sweepKs, data.sweepKs);
        QCOMPARE(read.queries.size(), data.queries.size());
        for (size_t i = 0; i < data.queries.size(); ++i) {
            QCOMPARE(read.queries[i].text, data.queries[i].text);
            QCOMPARE(read.queries[i].target, data.queries[i].target);
            QCOMPARE(read.queries[i].heldOut, data.queries[i].heldOut);
        }
        const sp::TrainConfig readConfig =
            sp::trainConfigFromJson(nlohmann::json::parse(read.trainingJson.toStdString()));
        QCOMPARE(readConfig.k, 12);
        QCOMPARE(readConfig.target, sp::TargetKind::Continuation);
    }

    void badProjectFilesSayWhatToDo_data()
    {
        QTest::addColumn<QByteArray>("content");
        QTest::addColumn<QString>("expected");
        QTest::newRow("not json") << QByteArray("{oops") << "not a workbench project";
        QTest::newRow("other json") << QByteArray(R"({"examples": []})") << "no \"format\"";
        QTest::newRow("newer") << QByteArray(R"({"format": "softprompt-workbench-project", "version": 99})")
                               << "newer workbench";
        QTest::newRow("query without text")
            << QByteArray(R"({"format": "softprompt-workbench-project", "version": 1, "queries": [{"target": "x"}]})")
            << "query 1 has no";
    }
    void badProjectFilesSayWhatToDo()
    {
        QFETCH(QByteArray, content);
        QFETCH(QString, expected);
        const QString path = dir_.filePath("bad.spwb");
        writeFile(path, content);
        try {
            spui::readProjectFile(path);
            QFAIL("a bad project file was accepted");
        } catch (const sp::Error& error) {
            const QString message = QString::fromStdString(error.what());
            QVERIFY2(message.contains(expected), qPrintable(message));
            QVERIFY2(message.contains(path), qPrintable(message));
        }
    }

    void titleCarriesTheDirtyMarker()
    {
        spui::MainWindow window;
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        QVERIFY(window.openExample("shop"));
        QVERIFY(!window.project()->isModified());
        QVERIFY(!window.isWindowModified());
        QVERIFY2(window.windowTitle().startsWith("Untitled[*]"), qPrintable(window.windowTitle()));
        window.contextEditor()->setText("Edited context.");
        QVERIFY(window.project()->isModified());
        QVERIFY(window.isWindowModified());
        const QString path = dir_.filePath("titled.spwb");
        QString error;
        QVERIFY2(window.project()->saveAs(path, &error), qPrintable(error));
        QVERIFY(!window.isWindowModified());
        QVERIFY2(window.windowTitle().startsWith("titled[*]"), qPrintable(window.windowTitle()));
        QVERIFY(spui::Project::recentFiles().contains(QFileInfo(path).absoluteFilePath()));
        // A change of the training settings is a change of the project too.
        window.findChild<QSpinBox*>("kBox")->setValue(window.trainingPanel()->config().k + 1);
        QVERIFY(window.isWindowModified());
    }

    // Each way the issue lost work: the menu entry asks first; Cancel keeps everything, Discard
    // goes on.
    void replacingUnsavedWorkAsksFirst()
    {
        spui::MainWindow window;
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        QVERIFY(window.openExample("shop"));
        window.contextEditor()->setText("My own pasted context.");
        window.queryEditor()->pasteMany("mine 1\nmine 2", false);
        QVERIFY(window.project()->isModified());
        const int rows = window.session()->queries()->rowCount();

        QMenu* file = nullptr;
        for (QAction* action : window.menuBar()->actions())
            if (action->text().remove('&') == "File")
                file = action->menu();
        QVERIFY(file);
        QMenu* examples = findAction(file, "Open example") ? findAction(file, "Open example")->menu() : nullptr;
        QVERIFY(examples);
        emit examples->aboutToShow(); // fills the menu as opening it does
        QAction* lisbon = findAction(examples, "Support bot in Lisbon");
        QVERIFY(lisbon);

        bool asked = false;
        answerNextConfirmation(QMessageBox::Cancel, &asked);
        lisbon->trigger();
        QVERIFY(asked);
        QCOMPARE(window.session()->context(), QStringLiteral("My own pasted context."));
        QCOMPARE(window.session()->queries()->rowCount(), rows);

        answerNextConfirmation(QMessageBox::Cancel, &asked);
        findAction(file, "New project")->trigger();
        QVERIFY(asked);
        QCOMPARE(window.session()->context(), QStringLiteral("My own pasted context."));

        answerNextConfirmation(QMessageBox::Discard, &asked);
        lisbon->trigger();
        QVERIFY(asked);
        QCOMPARE(window.session()->context(), QStringLiteral("You are a support bot in Lisbon.\n"));
        QCOMPARE(window.session()->queries()->rowCount(), 2);
        QVERIFY(!window.project()->isModified());

        // Nothing unsaved: no question.
        answerNextConfirmation(QMessageBox::Cancel, &asked);
        lisbon->trigger();
        QTest::qWait(20);
        QVERIFY(!asked);
    }

    void queryEditsAndRemovalsUndo()
    {
        spui::MainWindow window;
        QVERIFY(window.openExample("lisbon"));
        spui::QueryTableModel* queries = window.session()->queries();
        QUndoStack* undo = window.project()->undoStack();
        const std::vector<sp::Query> original = queries->queries();
        QVERIFY(queries->setData(queries->index(0, spui::QueryTableModel::QueryColumn), "Where exactly?"));
        window.queryEditor()->table()->selectRow(1);
        window.queryEditor()->removeSelected();
        QCOMPARE(queries->rowCount(), 1);
        QVERIFY2(window.queryEditor()->lastNotice().contains("Undo"), qPrintable(window.queryEditor()->lastNotice()));
        undo->undo(); // the removal
        QCOMPARE(queries->rowCount(), 2);
        QCOMPARE(QString::fromStdString(queries->queries()[1].text), QStringLiteral("When?"));
        undo->undo(); // the edit
        QCOMPARE(QString::fromStdString(queries->queries()[0].text), QStringLiteral("Where?"));
        undo->redo();
        QCOMPARE(QString::fromStdString(queries->queries()[0].text), QStringLiteral("Where exactly?"));
        // Edit › Undo is the same stack, bound to the standard key.
        auto* undoAction = window.findChild<QAction*>("undoAction");
        QVERIFY(undoAction);
        QCOMPARE(undoAction->shortcut(), QKeySequence(QKeySequence::Undo));
        undoAction->trigger();
        QCOMPARE(QString::fromStdString(queries->queries()[0].text), QStringLiteral("Where?"));
    }

    void openedContextFileUndoesInTheEditor()
    {
        spui::MainWindow window;
        QVERIFY(window.openExample("shop"));
        const QString path = dir_.filePath("other-context.txt");
        writeFile(path, "A context from a file.");
        QString error;
        QVERIFY2(window.openContextPath(path, &error), qPrintable(error));
        QCOMPARE(window.session()->context(), QStringLiteral("A context from a file."));
        auto* edit = window.contextEditor()->findChild<QPlainTextEdit*>("contextEdit");
        QVERIFY(edit && edit->document()->isUndoAvailable());
        edit->undo();
        QCOMPARE(window.session()->context(), QStringLiteral("Always answer politely.\n"));
    }

    void restoresContextAndQueriesFromARun()
    {
        const QString db = dir_.filePath("runs.sqlite");
        std::int64_t runId = 0;
        {
            sp::RunStore store = sp::RunStore::open(db.toStdString());
            sp::NewRun run;
            run.name = "stored";
            sp::TrainConfig config;
            config.k = 5;
            run.config = sp::trainConfigToJson(config);
            run.model.path = "demo";
            run.model.hash = "h";
            run.model.summary = {{"name", "demo"}};
            run.contextId = store.putContext("The stored context.");
            run.querySetId = store.putQuerySet("set", {{0, "stored q1", "t1", false}, {0, "stored q2", "", true}});
            std::unique_ptr<sp::RunWriter> writer = store.startRun(run);
            writer->finish(sp::RunStatus::Finished, "");
            runId = writer->runId();
        }
        spui::MainWindow window;
        window.session()->setDatabasePath(db);
        QVERIFY(window.openExample("shop"));
        window.runsBrowser()->reopenStore();
        window.runsBrowser()->selectRuns({runId});
        QCOMPARE(window.runsBrowser()->selectedRunIds().size(), size_t(1));
        auto* restore = window.runsBrowser()->findChild<QPushButton*>("restoreWorkButton");
        QVERIFY(restore && restore->isEnabled());
        restore->click();
        QCOMPARE(window.session()->context(), QStringLiteral("The stored context."));
        QCOMPARE(window.session()->queries()->rowCount(), 2);
        QCOMPARE(QString::fromStdString(window.session()->queries()->queries()[1].text),
                 QStringLiteral("stored q2"));
        QVERIFY(window.session()->queries()->queries()[1].heldOut);
        QCOMPARE(window.trainingPanel()->config().k, 5);
        QVERIFY(window.project()->isModified());
        // The replaced queries are one undo away.
        window.project()->undoStack()->undo();
        QCOMPARE(QString::fromStdString(window.session()->queries()->queries()[0].text), QStringLiteral("Hello?"));
    }

    void contextLabelFollowsTheText()
    {
        {
            spui::MainWindow window;
            QVERIFY(window.openExample("lisbon"));
            QVERIFY(window.contextEditor()->nameLabelText().contains("Support bot in Lisbon"));
            QVERIFY(window.trainingPanel()->runName().contains("Support bot in Lisbon"));
            window.contextEditor()->setText("You are the helpdesk of a Porto bakery. Be brief.");
            const QString label = window.contextEditor()->nameLabelText();
            QVERIFY2(!label.contains("Lisbon"), qPrintable(label));
            QVERIFY2(label.contains("“You are the helpdesk of a…”"), qPrintable(label)); // its first words
            QVERIFY2(!window.trainingPanel()->runName().contains("Lisbon"),
                     qPrintable(window.trainingPanel()->runName()));
            QVERIFY(window.close()); // the last session is kept
        }
        QSettings().setValue("session/started", true); // not a first start: the last session comes back
        spui::MainWindow restarted;
        restarted.startUp();
        QCOMPARE(restarted.session()->context(), QStringLiteral("You are the helpdesk of a Porto bakery. Be brief."));
        QVERIFY2(!restarted.contextEditor()->nameLabelText().contains("Lisbon"),
                 qPrintable(restarted.contextEditor()->nameLabelText()));
        // Unsaved work stays unsaved across the restart.
        QVERIFY(restarted.project()->isModified());
        // The report names the context by its label too.
        spui::TrainingOutcome outcome;
        outcome.runId = 1;
        outcome.evaluation = sptest::threeQueries();
        restarted.session()->showOutcome(outcome);
        const QString report = dir_.filePath("report.html");
        QString error;
        QVERIFY2(restarted.exportReportTo(report, &error), qPrintable(error));
        QFile file(report);
        QVERIFY(file.open(QIODevice::ReadOnly));
        const QString html = QString::fromUtf8(file.readAll());
        QVERIFY(!html.contains("Lisbon"));
        QVERIFY(html.contains("You are the helpdesk of a"));
        QTRY_VERIFY_WITH_TIMEOUT(!restarted.session()->isBusy(), 60000);
    }

private:
    QTemporaryDir data_;
    QTemporaryDir dir_;
};

SPUI_TEST_MAIN(TestProject)
#include "test_project.moc"
