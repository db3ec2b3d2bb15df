// Crash recovery with the real program: softprompt-workbench starts (offscreen), gets unsaved work
// (--context opens a text file into the untitled project), autosaves it, and is killed with SIGKILL.
// The next start offers the work back; Recover puts the same context and queries in the window,
// Discard deletes the copy. The restart runs in this process, with the same user folders.
#include "ContextEditor.h"
#include "MainWindow.h"
#include "Project.h"
#include "QueryTableModel.h"
#include "Session.h"
#include "ui_test_support.h"

#include <QDir>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QMessageBox>
#include <QProcess>
#include <QPushButton>
#include <QTemporaryDir>

namespace {

const QString kCrashContext = QStringLiteral("Crash-test context 7f3a: answer in French, always.");

QStringList autosaveFiles()
{
    return QDir(spui::Project::recoveryFolder()).entryList({QStringLiteral("autosave-*.json")}, QDir::Files);
}

QMessageBox* recoveryOffer()
{
    for (QWidget* widget : QApplication::topLevelWidgets())
        if (auto* box = qobject_cast<QMessageBox*>(widget);
            box && box->objectName() == QLatin1String("recoveryOfferBox") && box->isVisible())
            return box;
    return nullptr;
}

} // namespace

class TestCrashRecovery : public QObject {
    Q_OBJECT
private slots:
    void killedWorkbenchOffersItsWorkBack_data()
    {
        QTest::addColumn<bool>("recover");
        QTest::newRow("recover") << true;
        QTest::newRow("discard") << false;
    }

    void killedWorkbenchOffersItsWorkBack()
    {
        QFETCH(bool, recover);
        QVERIFY(dir_.isValid());
        const QString contextPath = dir_.filePath("context.txt");
        {
            QFile file(contextPath);
            QVERIFY(file.open(QIODevice::WriteOnly));
            file.write(kCrashContext.toUtf8());
        }
        QDir(spui::Project::recoveryFolder()).removeRecursively();

        // The child inherits this test's isolated XDG folders, so both see the same recovery folder.
        QProcess workbench;
        QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
        environment.insert("QT_QPA_PLATFORM", "offscreen");
        workbench.setProcessEnvironment(environment);
        workbench.setProcessChannelMode(QProcess::ForwardedErrorChannel);
        workbench.start(QStringLiteral(SP_GUI_PATH), {"--context", contextPath});
        QVERIFY2(workbench.waitForStarted(30000), qPrintable(workbench.errorString()));
        // The autosave copy appears within a few seconds of the change.
        QTRY_VERIFY_WITH_TIMEOUT(!autosaveFiles().isEmpty(), 60000);
        const QString copy = QDir(spui::Project::recoveryFolder()).filePath(autosaveFiles().constFirst());
        QTRY_VERIFY_WITH_TIMEOUT(
            [&] {
                QFile file(copy);
                return file.open(QIODevice::ReadOnly) && QString::fromUtf8(file.readAll()).contains("7f3a");
            }(),
            30000);
        int autosavedQueries = -1;
        {
            QFile file(copy);
            QVERIFY(file.open(QIODevice::ReadOnly));
            const QJsonObject envelope = QJsonDocument::fromJson(file.readAll()).object();
            autosavedQueries = int(envelope.value("project").toObject().value("queries").toArray().size());
        }
        QCOMPARE(workbench.state(), QProcess::Running);
        workbench.kill(); // SIGKILL: no close event, no destructor, no last-session copy
        QVERIFY(workbench.waitForFinished(30000));
        QCOMPARE(workbench.exitStatus(), QProcess::CrashExit);
        QCOMPARE(autosaveFiles().size(), 1); // the dead process left its copy

        spui::MainWindow restarted;
        restarted.show();
        restarted.startUp();
        QTRY_VERIFY_WITH_TIMEOUT(recoveryOffer() != nullptr, 10000);
        QMessageBox* offer = recoveryOffer();
        QVERIFY2(offer->text().contains("did not close properly"), qPrintable(offer->text()));
        QVERIFY2(offer->text().contains(QString::number(kCrashContext.size())), qPrintable(offer->text()));
        QVERIFY(restarted.session()->context() != kCrashContext); // nothing is applied before the answer
        if (recover) {
            offer->findChild<QPushButton*>("recoverButton")->click();
            QCOMPARE(restarted.session()->context(), kCrashContext);
            QVERIFY(restarted.project()->isModified());
            QVERIFY(restarted.isWindowModified());
            // The queries the child had (its first start opened an example) came back with it.
            QCOMPARE(restarted.session()->queries()->rowCount(), autosavedQueries);
        } else {
            offer->findChild<QPushButton*>("discardRecoveryButton")->click();
            QVERIFY(restarted.session()->context() != kCrashContext);
        }
        QTRY_VERIFY(!QFileInfo::exists(copy));
        QTRY_VERIFY_WITH_TIMEOUT(!restarted.session()->isBusy(), 120000);
    }

private:
    QTemporaryDir dir_;
};

SPUI_TEST_MAIN(TestCrashRecovery)
#include "test_crash_recovery.moc"
