// The main window opens on the offscreen platform with every tab, a status bar that names the
// device, standard shortcuts, and window state that persists across instances.
#include "ContextEditor.h"
#include "CurvePlot.h"
#include "MainWindow.h"
#include "Session.h"
#include "TrainingPanel.h"
#include "ui_test_support.h"

#include <QAction>
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
        QCOMPARE(window.windowTitle(), QStringLiteral("SoftPrompt Workbench"));
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

    void standardShortcutsAreBound()
    {
        spui::MainWindow window;
        QList<QKeySequence> shortcuts;
        for (QAction* action : window.menuBar()->findChildren<QAction*>())
            shortcuts << action->shortcut();
        for (QKeySequence::StandardKey key : {QKeySequence::Open, QKeySequence::Quit, QKeySequence::Print})
            QVERIFY2(shortcuts.contains(QKeySequence(key)), qPrintable(QKeySequence(key).toString()));
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
            window.resize(1011, 733);
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
        QCOMPARE(restored.size(), QSize(1011, 733));
        // Let the model load finish so the worker thread is idle when the window goes.
        QTRY_VERIFY_WITH_TIMEOUT(!restored.session()->isBusy(), 60000);
    }
};

SPUI_TEST_MAIN(TestMainWindow)
#include "test_mainwindow.moc"
