#pragma once
// Helpers shared by the Qt Test executables.
#include <QDir>
#include <QString>
#include <QtTest>

namespace sptest {

// ../shared/fixtures/<relative>, or an empty string when the shared folder is absent.
inline QString sharedFixture(const QString& relative)
{
    const QString path = QDir(QStringLiteral(SP_SHARED_FIXTURES_DIR)).filePath(relative);
    return QFileInfo::exists(path) ? path : QString();
}

inline QString testData(const QString& relative)
{
    return QDir(QStringLiteral(SP_TEST_DATA_DIR)).filePath(relative);
}

} // namespace sptest

// Skips the current test with a message naming the missing shared fixture.
#define SP_REQUIRE_SHARED_FIXTURE(variable, relative)                                                  \
    const QString variable = sptest::sharedFixture(relative);                                          \
    if (variable.isEmpty())                                                                            \
    QSKIP(qPrintable(QStringLiteral("shared fixture %1 not found under %2; it is read from ../shared/" \
                                    "fixtures next to the checkout")                                   \
                         .arg(relative, QStringLiteral(SP_SHARED_FIXTURES_DIR))))
