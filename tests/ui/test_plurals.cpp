// EnglishPlurals: "%n word(s)" strings read "1 thread" and "2 threads", and every such string in ui/
// counts a word the translator knows.
#include "EnglishPlurals.h"

#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QRegularExpression>
#include <QtTest>

class TestPlurals : public QObject {
    Q_OBJECT

    // The concatenated text of every tr("..." "...", ...) call in one source file.
    static QStringList trTexts(const QString& path)
    {
        QFile file(path);
        if (!file.open(QIODevice::ReadOnly))
            return {};
        const QString code = QString::fromUtf8(file.readAll());
        static const QRegularExpression call(
            QStringLiteral("\\btr\\(\\s*((?:\"(?:[^\"\\\\]|\\\\.)*\"\\s*)+)"));
        static const QRegularExpression literal(QStringLiteral("\"((?:[^\"\\\\]|\\\\.)*)\""));
        QStringList texts;
        for (QRegularExpressionMatchIterator calls = call.globalMatch(code); calls.hasNext();) {
            QString text;
            const QString literals = calls.next().captured(1);
            for (QRegularExpressionMatchIterator parts = literal.globalMatch(literals); parts.hasNext();)
                text += parts.next().captured(1);
            texts << text;
        }
        return texts;
    }

private Q_SLOTS:
    void initTestCase() { QVERIFY(QCoreApplication::installTranslator(&plurals_)); }

    void countedWords_data()
    {
        QTest::addColumn<QString>("source");
        QTest::addColumn<int>("n");
        QTest::addColumn<QString>("expected");
        QTest::newRow("one thread") << "CPU only, %n thread(s)" << 1 << "CPU only, 1 thread";
        QTest::newRow("two threads") << "CPU only, %n thread(s)" << 2 << "CPU only, 2 threads";
        QTest::newRow("no query") << "Removed %n query(s). Undo brings them back." << 0
                                  << "Removed 0 queries. Undo brings them back.";
        QTest::newRow("one query") << "Added %n query(s)" << 1 << "Added 1 query";
        QTest::newRow("many queries") << "Added %n query(s)" << 12 << "Added 12 queries";
        QTest::newRow("word and a later %1") << "%n query(s) added after run %1 was trained" << 3
                                             << "3 queries added after run %1 was trained";
        QTest::newRow("without %n: untouched") << "Delete the run(s)?" << 2 << "Delete the run(s)?";
        QTest::newRow("unknown word: untouched") << "%n widget(s)" << 1 << "1 widget(s)";
        QTest::newRow("no count given: untouched") << "%n run(s)" << -1 << "%n run(s)";
    }
    void countedWords()
    {
        QFETCH(QString, source);
        QFETCH(int, n);
        QFETCH(QString, expected);
        const QByteArray utf8 = source.toUtf8();
        QCOMPARE(QCoreApplication::translate("Any", utf8.constData(), nullptr, n), expected);
    }

    // A new "%n entry(s)" in ui/ without its plural in EnglishPlurals::pluralOf fails here.
    void everyCountedStringInTheUiHasItsPlural()
    {
        const QDir ui(QStringLiteral(SP_UI_SOURCE_DIR));
        const QStringList files = ui.entryList({QStringLiteral("*.cpp")}, QDir::Files);
        QVERIFY2(files.size() > 10, qPrintable(ui.path()));
        static const QRegularExpression countedWord(QStringLiteral("\\b([A-Za-z]+)\\(s\\)"));
        QStringList counted;
        for (const QString& file : files) {
            for (const QString& text : trTexts(ui.filePath(file))) {
                if (!text.contains(QLatin1String("%n")) || !text.contains(QLatin1String("(s)")))
                    continue;
                counted << text;
                for (QRegularExpressionMatchIterator words = countedWord.globalMatch(text);
                     words.hasNext();) {
                    const QString word = words.next().captured(1);
                    QVERIFY2(!EnglishPlurals::pluralOf(word).isEmpty(),
                             qPrintable(file + ": \"" + text + "\" counts \"" + word +
                                        "\": add its plural to EnglishPlurals::pluralOf"));
                }
                const QByteArray utf8 = text.toUtf8();
                for (int n : {1, 2})
                    QVERIFY2(!QCoreApplication::translate("Any", utf8.constData(), nullptr, n)
                                  .contains(QLatin1String("(s)")),
                             qPrintable(file + ": " + text));
            }
        }
        // The scan found the strings it is about (the status bar's among them).
        QVERIFY2(counted.contains(QStringLiteral("CPU only, %n thread(s)")), qPrintable(counted.join('\n')));
        QVERIFY2(counted.size() >= 10, qPrintable(counted.join('\n')));
    }

private:
    EnglishPlurals plurals_;
};

QTEST_GUILESS_MAIN(TestPlurals)
#include "test_plurals.moc"
