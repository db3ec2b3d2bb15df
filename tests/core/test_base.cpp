// Core basics: hashing, text helpers and data-folder lookup.
#include "softprompt/error.h"
#include "softprompt/hash.h"
#include "softprompt/paths.h"
#include "softprompt/text.h"
#include "softprompt/version.h"

#include <QTemporaryDir>
#include <QtTest>

#include <cstdlib>

class TestBase : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void sha256_data()
    {
        QTest::addColumn<QByteArray>("input");
        QTest::addColumn<QString>("expected");
        // FIPS 180-4 example vectors.
        QTest::newRow("empty") << QByteArray()
                               << "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        QTest::newRow("abc") << QByteArray("abc")
                             << "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        QTest::newRow("two blocks") << QByteArray("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
                                    << "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
        QTest::newRow("million a") << QByteArray(1000000, 'a')
                                   << "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
    }
    void sha256()
    {
        QFETCH(QByteArray, input);
        QFETCH(QString, expected);
        QCOMPARE(QString::fromStdString(sp::sha256Hex(std::string_view(input.constData(), input.size()))),
                 expected);
        // Feeding the same bytes in uneven pieces must give the same digest.
        sp::Sha256 incremental;
        for (int offset = 0; offset < input.size(); offset += 7)
            incremental.update(input.constData() + offset, std::min<int>(7, input.size() - offset));
        QCOMPARE(QString::fromStdString(incremental.hexDigest()), expected);
    }

    void integerList()
    {
        QCOMPARE(sp::parseIntegerList("1, 2,-3"), (std::vector<long long>{1, 2, -3}));
        QVERIFY(sp::parseIntegerList("").empty());
        QVERIFY_THROWS_EXCEPTION(sp::Error, sp::parseIntegerList("1,x,3"));
        QVERIFY_THROWS_EXCEPTION(sp::Error, sp::parseIntegerList("1,,3"));
    }

    void utf8Validation_data()
    {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<bool>("valid");
        QTest::newRow("ascii") << QByteArray("hello") << true;
        QTest::newRow("two-byte") << QByteArray("caf\xc3\xa9") << true;
        QTest::newRow("emoji") << QByteArray("\xf0\x9f\x98\x80") << true;
        QTest::newRow("lone continuation") << QByteArray("\x80") << false;
        QTest::newRow("overlong slash") << QByteArray("\xc0\xaf") << false;
        QTest::newRow("surrogate") << QByteArray("\xed\xa0\x80") << false;
        QTest::newRow("truncated") << QByteArray("\xe2\x82") << false;
        QTest::newRow("above U+10FFFF") << QByteArray("\xf4\x90\x80\x80") << false;
    }
    void utf8Validation()
    {
        QFETCH(QByteArray, bytes);
        QFETCH(bool, valid);
        QCOMPARE(sp::isValidUtf8(std::string_view(bytes.constData(), bytes.size())), valid);
    }

    void dataDirectoryHonoursEnvironment()
    {
        QTemporaryDir folder;
        QVERIFY(QDir(folder.path()).mkpath("examples"));
        qputenv("SOFTPROMPT_DATA_DIR", folder.path().toUtf8());
        QCOMPARE(QString::fromStdString(sp::dataDirectory()), folder.path());
        qunsetenv("SOFTPROMPT_DATA_DIR");
    }

    void defaultDatabaseFollowsXdg()
    {
        QTemporaryDir folder;
        qputenv("XDG_DATA_HOME", folder.path().toUtf8());
        const QString expected = folder.path() + "/softprompt-workbench/runs.sqlite";
        QCOMPARE(QString::fromStdString(sp::defaultDatabasePath()), expected);
        QVERIFY(QFileInfo(folder.path() + "/softprompt-workbench").isDir());
        qunsetenv("XDG_DATA_HOME");
    }

    // No default database: core says so in its own words with Remedy::ChooseDatabase (the CLI adds
    // --db PATH, the GUI File › Run database); no CLI flag in core's message.
    void defaultDatabaseRefusalsNameNoFlag()
    {
        const QByteArray home = qgetenv("HOME");
        QTemporaryDir folder;
        const QString notAFolder = folder.filePath("file");
        QFile file(notAFolder);
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.close();
        for (const bool withHome : {false, true}) {
            qunsetenv("XDG_DATA_HOME");
            if (withHome)
                qputenv("XDG_DATA_HOME", notAFolder.toUtf8()); // the data folder cannot be created in a file
            else
                qunsetenv("HOME");
            try {
                sp::defaultDatabasePath();
                QFAIL("a default database path without a place for it");
            } catch (const sp::Error& error) {
                const QString message = QString::fromUtf8(error.what());
                QVERIFY2(message.contains(withHome ? "choose a run database in another location"
                                                   : "choose a run database file") &&
                             !message.contains("--"),
                         qPrintable(message));
                QCOMPARE(error.remedy(), sp::Remedy::ChooseDatabase);
            }
            qputenv("HOME", home);
        }
        qunsetenv("XDG_DATA_HOME");
    }

    void readMissingFileNamesIt()
    {
        try {
            sp::readTextFile("/nonexistent/context.txt");
            QFAIL("expected sp::Error");
        } catch (const sp::Error& error) {
            QVERIFY(QString(error.what()).contains("/nonexistent/context.txt"));
        }
    }

    void buildInfoIsFilled()
    {
        const sp::BuildInfo info = sp::buildInfo();
        QCOMPARE(QString::fromStdString(info.projectVersion), QStringLiteral(SP_EXPECTED_VERSION));
        QVERIFY(QRegularExpression("^\\d+\\.\\d+\\.\\d+$")
                    .match(QString::fromStdString(info.torchVersion))
                    .hasMatch());
        QVERIFY(info.cpuThreads >= 1);
    }
};

QTEST_GUILESS_MAIN(TestBase)
#include "test_base.moc"
