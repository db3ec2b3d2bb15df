#pragma once
// Shared by the GUI tests: every test executable runs with its own empty XDG config and data
// folders, so QSettings and the run database never touch the user's files, and first-start
// behaviour is what the test sees.
#include <QApplication>
#include <QTemporaryDir>
#include <QtTest>

namespace sptest {

inline QTemporaryDir& isolatedHome()
{
    static QTemporaryDir dir;
    return dir;
}

inline void isolateUserFolders()
{
    QTemporaryDir& home = isolatedHome();
    qputenv("XDG_CONFIG_HOME", home.filePath(QStringLiteral("config")).toUtf8());
    qputenv("XDG_DATA_HOME", home.filePath(QStringLiteral("data")).toUtf8());
    qputenv("XDG_CACHE_HOME", home.filePath(QStringLiteral("cache")).toUtf8());
    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM"))
        qputenv("QT_QPA_PLATFORM", "offscreen");
}

} // namespace sptest

// Like QTEST_MAIN, with isolated user folders and the application names the workbench uses.
#define SPUI_TEST_MAIN(TestClass)                                                                            \
    int main(int argc, char** argv)                                                                          \
    {                                                                                                        \
        sptest::isolateUserFolders();                                                                        \
        QApplication application(argc, argv);                                                                \
        QApplication::setOrganizationName(QStringLiteral("softprompt-workbench-tests"));                     \
        QApplication::setApplicationName(QStringLiteral(#TestClass));                                        \
        TestClass test;                                                                                      \
        return QTest::qExec(&test, argc, argv);                                                              \
    }
