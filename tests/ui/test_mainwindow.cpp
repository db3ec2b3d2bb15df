// The main window opens on the offscreen platform and shows what it should.
#include "MainWindow.h"

#include <QLabel>
#include <QStatusBar>
#include <QTabWidget>
#include <QtTest>

class TestMainWindow : public QObject {
    Q_OBJECT
private slots:
    void opens()
    {
        spui::MainWindow window;
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        QCOMPARE(window.windowTitle(), QStringLiteral("SoftPrompt Workbench"));
        QVERIFY(window.findChild<QTabWidget*>("mainTabs"));
        auto* deviceLabel = window.findChild<QLabel*>("deviceLabel");
        QVERIFY(deviceLabel);
        QVERIFY2(deviceLabel->text().startsWith("LibTorch "), qPrintable(deviceLabel->text()));
    }
};

QTEST_MAIN(TestMainWindow)
#include "test_mainwindow.moc"
