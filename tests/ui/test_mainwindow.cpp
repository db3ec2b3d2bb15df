// The main window opens on the offscreen platform with every tab, a status bar that names the
// device, standard shortcuts, and window state that persists across instances.
#include "ContextEditor.h"
#include "ModelBar.h"
#include "CurvePlot.h"
#include "MainWindow.h"
#include "Session.h"
#include "TrainingPanel.h"
#include "ui_test_support.h"

#include <QAbstractButton>
#include <QAbstractSpinBox>
#include <QAction>
#include <QDialog>
#include <QMap>
#include <QProcess>
#include <QRegularExpression>
#include <QShortcut>
#include <QTabBar>
#include <QTextBrowser>
#include <QComboBox>
#include <QLabel>
#include <QMenuBar>
#include <QSettings>
#include <QStatusBar>
#include <QTabWidget>
#include <QTemporaryDir>

class TestMainWindow : public QObject {
    Q_OBJECT
private slots:
    void opensWithEveryTab()
    {
        spui::MainWindow window;
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        QVERIFY2(window.windowTitle().endsWith(QStringLiteral("— SoftPrompt Workbench")),
                 qPrintable(window.windowTitle()));
        auto* tabs = window.findChild<QTabWidget*>("mainTabs");
        QVERIFY(tabs);
        QCOMPARE(tabs->count(), spui::MainWindow::tabKeys().size());
        for (const QString& key : spui::MainWindow::tabKeys()) {
            QVERIFY2(window.showTab(key), qPrintable(key));
            QCOMPARE(tabs->currentWidget()->property("tabKey").toString(), key);
        }
        QVERIFY(!window.showTab("no-such-tab"));
        auto* deviceLabel = window.findChild<QLabel*>("deviceLabel");
        QVERIFY(deviceLabel);
        QVERIFY2(deviceLabel->text().contains("LibTorch "), qPrintable(deviceLabel->text()));
        QVERIFY(window.findChild<QLabel*>("modelLabel")->text().contains("no model"));
    }

    // A status message from before the window was shown (the first example's settings, applied in
    // the constructor) is not drawn over the activity label: the label hides until it goes.
    void statusMessageFromBeforeShowHidesTheActivityLabel()
    {
        spui::MainWindow window;
        const QString message = QStringLiteral("A message from before the window was shown");
        window.statusBar()->showMessage(message, 60000);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        auto* activity = window.findChild<QLabel*>("activityLabel");
        QVERIFY(activity);
        QCOMPARE(window.statusBar()->currentMessage(), message);
        QVERIFY(!activity->isVisible());
        window.statusBar()->clearMessage();
        QVERIFY(activity->isVisible());
    }

    void standardShortcutsAreBound()
    {
        spui::MainWindow window;
        QList<QKeySequence> shortcuts;
        for (QAction* action : window.menuBar()->findChildren<QAction*>())
            shortcuts << action->shortcut();
        for (QKeySequence::StandardKey key : {QKeySequence::Open, QKeySequence::Quit, QKeySequence::Print})
            QVERIFY2(shortcuts.contains(QKeySequence(key)), qPrintable(QKeySequence(key).toString()));
    }

    // Two bindings of one key sequence make Qt run neither ("Ambiguous shortcut overload"): every
    // action, shortcut and button binds its own, and the always-visible mnemonics (menu bar, tabs)
    // differ too.
    void everyShortcutIsUnique()
    {
        spui::MainWindow window;
        QMap<QString, QStringList> owners;
        auto add = [&owners](const QKeySequence& sequence, const QString& owner) {
            if (!sequence.isEmpty())
                owners[sequence.toString(QKeySequence::PortableText)] << owner;
        };
        for (QAction* action : window.findChildren<QAction*>())
            for (const QKeySequence& sequence : action->shortcuts())
                add(sequence, QStringLiteral("action \"%1\"").arg(action->text()));
        for (QShortcut* shortcut : window.findChildren<QShortcut*>())
            add(shortcut->key(), QStringLiteral("shortcut %1").arg(shortcut->objectName()));
        for (QAbstractButton* button : window.findChildren<QAbstractButton*>()) {
            // A button's own mnemonic (&Train) only acts while its page is shown; Qt focuses
            // rather than clicks when two visible ones clash. Explicit bindings count.
            if (button->shortcut() != QKeySequence::mnemonic(button->text()))
                add(button->shortcut(), QStringLiteral("button \"%1\"").arg(button->text()));
        }
        for (QAction* menu : window.menuBar()->actions())
            add(QKeySequence::mnemonic(menu->text()), QStringLiteral("menu %1").arg(menu->text()));
        for (int i = 0; i < window.tabs()->count(); ++i)
            add(QKeySequence::mnemonic(window.tabs()->tabText(i)),
                QStringLiteral("tab %1").arg(window.tabs()->tabText(i)));
        QVERIFY(owners.size() > 15); // the walk found the bindings
        for (auto it = owners.cbegin(); it != owners.cend(); ++it)
            QVERIFY2(it.value().size() == 1,
                     qPrintable(QStringLiteral("%1 is bound to %2").arg(it.key(), it.value().join(", "))));
        // The two that clashed: the report prints, pause has its own key.
        QStringList print = owners.value(QKeySequence(QKeySequence::Print).toString(QKeySequence::PortableText));
        QCOMPARE(print.size(), 1);
        QVERIFY2(print.first().contains("report"), qPrintable(print.first()));
    }

    void everyNumberFieldExplainsItself()
    {
        spui::MainWindow window;
        const QList<QAbstractSpinBox*> boxes = window.findChildren<QAbstractSpinBox*>();
        QVERIFY(boxes.size() >= 12);
        for (QAbstractSpinBox* box : boxes)
            QVERIFY2(box->toolTip().size() > 20,
                     qPrintable(QStringLiteral("%1 (%2) has no tooltip")
                                    .arg(box->objectName(), box->parentWidget()->metaObject()->className())));
    }

    void helpOpensTheWorkflowGuide()
    {
        spui::MainWindow window;
        window.show();
        auto* guide = window.findChild<QAction*>("workflowGuideAction");
        QVERIFY(guide);
        QCOMPARE(guide->shortcut(), QKeySequence(QKeySequence::HelpContents));
        guide->trigger();
        auto* dialog = window.findChild<QDialog*>("workflowGuide");
        QVERIFY(dialog && dialog->isVisible());
        const QString text = dialog->findChild<QTextBrowser*>("workflowGuideText")->toPlainText();
        // It walks the whole workflow, tab by tab, and tells where the work is kept.
        for (const char* step : {"Model", "Context", "Queries", "Train", "Compare", "Runs", "Sweep", "project",
                                 "Shift+Enter", "Undo"})
            QVERIFY2(text.contains(QLatin1String(step)), step);
        guide->trigger(); // a second time raises the same window
        QCOMPARE(window.findChildren<QDialog*>("workflowGuide").size(), 1);
    }

    // After a failed load the previous model stays; the model bar says so, as the status bar does.
    void failedModelLoadKeepsTheBarsConsistent()
    {
        spui::MainWindow window;
        window.startUp();
        QTRY_VERIFY_WITH_TIMEOUT(window.session()->hasModel() && !window.session()->isBusy(), 60000);
        QTemporaryDir empty;
        window.modelBar()->load(empty.path()); // no config.json: fails
        QTRY_VERIFY_WITH_TIMEOUT(!window.session()->isBusy(), 60000);
        QVERIFY(window.session()->hasModel());
        const QString state = window.findChild<QLabel*>("modelState")->text();
        QVERIFY2(state.contains("still using the demo model"), qPrintable(state));
        QVERIFY2(!window.findChild<QLabel*>("modelLabel")->text().contains("no model"),
                 qPrintable(window.findChild<QLabel*>("modelLabel")->text()));
        QCOMPARE(window.modelBar()->findChild<QComboBox*>("modelCombo")->currentData().toString(),
                 QStringLiteral("demo"));
    }

    // One set of defaults: the CLI's `train --help` and a fresh training panel both show TrainConfig's.
    void cliAndGuiShareTheDefaults()
    {
        QProcess cli;
        cli.start(QStringLiteral(SP_CLI_PATH), {"train", "--help"});
        QVERIFY(cli.waitForFinished(30000));
        const QString help = QString::fromUtf8(cli.readAllStandardOutput());
        auto cliDefault = [&help](const QString& option) {
            // CLI11 prints "  --steps INT=200   Optimisation steps".
            const QRegularExpression pattern(QStringLiteral("%1 [A-Z]+=(\\S+)").arg(option));
            return pattern.match(help).captured(1);
        };
        QSettings().remove("training"); // a first start: no saved settings
        spui::MainWindow window;
        const sp::TrainConfig gui = window.trainingPanel()->config();
        const sp::TrainConfig core;
        QCOMPARE(gui.k, core.k);
        QCOMPARE(gui.steps, core.steps);
        QCOMPARE(gui.continuationLength, core.continuationLength);
        QCOMPARE(gui.target, core.target);
        QCOMPARE(gui.objective, core.objective);
        QCOMPARE(gui.init, core.init);
        QCOMPARE(cliDefault("--k"), QString::number(core.k));
        QCOMPARE(cliDefault("--steps"), QString::number(core.steps));
        QCOMPARE(cliDefault("--length"), QString::number(core.continuationLength));
        QCOMPARE(cliDefault("--target"), QString::fromStdString(sp::targetKindKey(core.target)));
        QCOMPARE(cliDefault("--objective"), QString::fromStdString(sp::objectiveInfo(core.objective).key));
        QCOMPARE(cliDefault("--init"), QString::fromStdString(sp::initKindKey(core.init)));
    }

    // A failed run's message belongs to that run: a new context (or model) clears it.
    void staleFailureIsCleared()
    {
        spui::Session session;
        spui::TrainingPanel panel(&session);
        spui::TrainingOutcome failed;
        failed.status = sp::RunStatus::Failed;
        failed.message = QStringLiteral("NaN at step 3: lower the learning rate");
        emit session.worker()->trainingFinished(failed);
        QVERIFY2(panel.phaseText().contains("failed"), qPrintable(panel.phaseText()));
        QCOMPARE(panel.progressText(), QStringLiteral("failed"));
        session.setContext(QStringLiteral("A new context."));
        QVERIFY2(!panel.phaseText().contains("failed"), qPrintable(panel.phaseText()));
        QCOMPARE(panel.progressText(), QStringLiteral("idle"));
    }

    void examplesSuggestTheirTrainingSettings()
    {
        // An examples folder whose index suggests a continuation target, as the shipped one does.
        QTemporaryDir data;
        QVERIFY(data.isValid());
        const QDir examples(data.filePath("examples"));
        QVERIFY(examples.mkpath("shop"));
        QVERIFY(examples.mkpath("plain"));
        auto write = [](const QString& path, const QByteArray& text) {
            QFile file(path);
            QVERIFY(file.open(QIODevice::WriteOnly));
            file.write(text);
        };
        write(examples.filePath("examples.json"),
              R"({"examples": [{"id": "shop", "title": "Shop", "training": {"target": "continuation",)"
              R"( "length": 6, "steps": 300}}, {"id": "plain", "title": "Plain"}]})");
        for (const char* name : {"shop", "plain"}) {
            write(examples.filePath(QString(name) + "/context.txt"), "Always answer politely.\n");
            write(examples.filePath(QString(name) + "/train.jsonl"), R"({"query": "Hello?"})"
                                                                     "\n");
        }
        qputenv("SOFTPROMPT_DATA_DIR", data.path().toUtf8());
        spui::MainWindow window;
        sp::TrainConfig defaults = window.trainingPanel()->config();
        QCOMPARE(defaults.target, sp::TargetKind::NextToken);
        QVERIFY(window.openExample("plain"));
        QCOMPARE(window.trainingPanel()->config().target, sp::TargetKind::NextToken);
        QVERIFY(window.openExample("shop"));
        const sp::TrainConfig suggested = window.trainingPanel()->config();
        QCOMPARE(suggested.target, sp::TargetKind::Continuation);
        QCOMPARE(suggested.continuationLength, 6);
        QCOMPARE(suggested.steps, 300);
        QCOMPARE(suggested.k, defaults.k); // the rest stays the user's
        qunsetenv("SOFTPROMPT_DATA_DIR");
    }

    void windowStatePersists()
    {
        {
            spui::MainWindow window;
            window.show();
            QVERIFY(QTest::qWaitForWindowExposed(&window));
            window.resize(1111, 733);
            window.showTab("runs");
            window.curvePlot()->setLogScale(true);
            QVERIFY(window.close());
        }
        QSettings settings;
        QVERIFY(settings.contains("window/geometry"));
        QCOMPARE(settings.value("window/tab").toInt(), 4);
        spui::MainWindow restored;
        restored.startUp(); // restores the state, then opens the demo model (not awaited here)
        QCOMPARE(restored.tabs()->currentWidget()->property("tabKey").toString(), QStringLiteral("runs"));
        QVERIFY(restored.curvePlot()->logScale());
        QCOMPARE(restored.size(), QSize(1111, 733));
        // Let the model load finish so the worker thread is idle when the window goes.
        QTRY_VERIFY_WITH_TIMEOUT(!restored.session()->isBusy(), 60000);
    }
};

SPUI_TEST_MAIN(TestMainWindow)
#include "test_mainwindow.moc"
