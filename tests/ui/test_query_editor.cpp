// The query set editor: the table model (checked by QAbstractItemModelTester), paste-many, the
// train/held-out marks, JSONL and CSV import/export with awkward text, and the editor's buttons.
#include "QueryEditor.h"
#include "QueryFiles.h"
#include "QueryTableModel.h"
#include "Session.h"
#include "softprompt/error.h"
#include "ui_test_support.h"

#include <QAbstractItemModelTester>
#include <QClipboard>
#include <QDialog>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QTimer>
#include <QPushButton>
#include <QTableView>
#include <QTemporaryDir>

using spui::QueryTableModel;

class TestQueryEditor : public QObject {
    Q_OBJECT
private slots:
    void modelPassesTester()
    {
        QueryTableModel model;
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        QVERIFY(model.insertRows(0, 3));
        QVERIFY(model.setData(model.index(0, QueryTableModel::QueryColumn), "first"));
        QVERIFY(model.setData(model.index(1, QueryTableModel::TargetColumn), "a target"));
        QVERIFY(
            model.setData(model.index(2, QueryTableModel::HeldOutColumn), Qt::Checked, Qt::CheckStateRole));
        QVERIFY(!model.setData(model.index(2, QueryTableModel::HeldOutColumn), "text", Qt::EditRole));
        QVERIFY(model.removeRows(1, 1));
        QVERIFY(!model.removeRows(1, 5));
        model.appendPastedText("x\ny\n", true);
        model.setQueries({});
        QCOMPARE(model.rowCount(), 0);
    }

    void pasteManySplitsLinesAndTabs()
    {
        QueryTableModel model;
        const int added = model.appendPastedText(
            "What is 2+2?\t4\r\n\n  \nName a colour\nTrailing\ttarget\textra\n", false);
        QCOMPARE(added, 3);
        QCOMPARE(model.rowCount(), 3);
        QCOMPARE(QString::fromStdString(model.queries()[0].text), QStringLiteral("What is 2+2?"));
        QCOMPARE(QString::fromStdString(model.queries()[0].target), QStringLiteral("4"));
        QCOMPARE(QString::fromStdString(model.queries()[1].target), QString());
        QCOMPARE(QString::fromStdString(model.queries()[2].target), QStringLiteral("target"));
        model.appendPastedText("held one\nheld two", true);
        QCOMPARE(model.heldOutCount(), 2);
        QCOMPARE(model.trainCount(), 3);
    }

    void nonEmptyQueriesAndTargetsFromTeacher()
    {
        QueryTableModel model;
        model.setQueries({{"a", "", false}, {"   ", "", false}, {"b", "", true}});
        QCOMPARE(int(model.nonEmptyQueries().size()), 2);
        model.setTargetsOfNonEmpty({" A", " B"});
        QCOMPARE(QString::fromStdString(model.queries()[0].target), QStringLiteral(" A"));
        QCOMPARE(QString::fromStdString(model.queries()[1].target), QString());
        QCOMPARE(QString::fromStdString(model.queries()[2].target), QStringLiteral(" B"));
    }

    void fileRoundTrip_data()
    {
        QTest::addColumn<QString>("fileName");
        QTest::newRow("jsonl") << "queries.jsonl";
        QTest::newRow("csv") << "queries.csv";
    }

    void fileRoundTrip()
    {
        QFETCH(QString, fileName);
        QTemporaryDir dir;
        const std::vector<sp::Query> queries = {
            {"plain", "", false},
            {"with, comma and \"quotes\"", "tab\there", true},
            {"two\nlines", "ünïcødé ✓ 漢字", false},
            {"  leading space", " answer starts with a space", true},
        };
        const QString path = dir.filePath(fileName);
        spui::writeQueryFile(path, queries);
        const std::vector<sp::Query> read = spui::readQueryFile(path, false);
        QCOMPARE(read.size(), queries.size());
        for (size_t i = 0; i < queries.size(); ++i) {
            QCOMPARE(read[i].text, queries[i].text);
            QCOMPARE(read[i].target, queries[i].target);
            QCOMPARE(read[i].heldOut, queries[i].heldOut);
        }
    }

    void jsonlIsReadableByTheEngine()
    {
        // The CLI reads the same files: its reader must accept what the GUI writes.
        QTemporaryDir dir;
        const QString path = dir.filePath("q.jsonl");
        spui::writeQueryJsonl(path, {{"z one", "t", true}, {"z two", "", false}});
        const std::vector<sp::Query> read = sp::readQueriesJsonl(path.toStdString());
        QCOMPARE(read.size(), size_t(2));
        QCOMPARE(read[0].target, std::string("t"));
    }

    void badFilesNameTheLine_data()
    {
        QTest::addColumn<QString>("fileName");
        QTest::addColumn<QByteArray>("content");
        QTest::addColumn<QString>("expected");
        QTest::newRow("not json") << "a.jsonl" << QByteArray("{\"query\": \"ok\"}\n{oops\n")
                                  << ":2: not valid JSON";
        QTest::newRow("no query") << "a.jsonl" << QByteArray("{\"target\": \"x\"}\n")
                                  << "\"query\" field is missing";
        QTest::newRow("bad target") << "a.jsonl" << QByteArray("{\"query\": \"q\", \"target\": 3}\n")
                                    << "must be a string";
        QTest::newRow("not utf8") << "a.jsonl" << QByteArray("{\"query\": \"\xff\xfe\"}\n") << "not UTF-8";
        QTest::newRow("open quote") << "a.csv" << QByteArray("query,target\n\"never closed,x\n")
                                    << "never closed";
        QTest::newRow("bad split") << "a.csv" << QByteArray("query,target,split\nq,t,maybe\n") << "neither";
    }

    void badFilesNameTheLine()
    {
        QFETCH(QString, fileName);
        QFETCH(QByteArray, content);
        QFETCH(QString, expected);
        QTemporaryDir dir;
        QFile file(dir.filePath(fileName));
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write(content);
        file.close();
        try {
            spui::readQueryFile(file.fileName(), false);
            QFAIL("a malformed file was accepted");
        } catch (const sp::Error& error) {
            const QString message = QString::fromStdString(error.what());
            QVERIFY2(message.contains(expected), qPrintable(message));
            QVERIFY2(message.contains(file.fileName()), qPrintable(message));
        }
    }

    void csvWithoutHeaderAndHeldOutDefault()
    {
        QTemporaryDir dir;
        QFile file(dir.filePath("plain.csv"));
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write("first query,its target\r\nsecond query\r\n");
        file.close();
        const std::vector<sp::Query> read = spui::readQueryCsv(file.fileName(), true);
        QCOMPARE(read.size(), size_t(2));
        QCOMPARE(read[0].target, std::string("its target"));
        QVERIFY(read[1].heldOut);
    }

    void editorButtonsAndImport()
    {
        spui::Session session;
        spui::QueryEditor editor(&session);
        editor.show();
        QVERIFY(QTest::qWaitForWindowExposed(&editor));
        auto* add = editor.findChild<QPushButton*>("addQueryButton");
        auto* remove = editor.findChild<QPushButton*>("removeQueryButton");
        QVERIFY(add && remove);
        QTest::mouseClick(add, Qt::LeftButton);
        QTest::mouseClick(add, Qt::LeftButton);
        QCOMPARE(session.queries()->rowCount(), 2);
        editor.table()->selectRow(0);
        QTest::mouseClick(remove, Qt::LeftButton);
        QCOMPARE(session.queries()->rowCount(), 1);

        QTemporaryDir dir;
        const QString path = dir.filePath("held.csv");
        spui::writeQueryCsv(path, {{"h1", "", false}, {"h2", "t", false}});
        QString error;
        QVERIFY2(editor.importFile(path, true, false, &error), qPrintable(error));
        QCOMPARE(session.queries()->rowCount(), 3);
        // The file's own split column wins over the "import as held-out" default.
        QCOMPARE(session.queries()->heldOutCount(), 0);
        QVERIFY(!editor.importFile(dir.filePath("missing.jsonl"), false, false, &error));
        QVERIFY2(error.contains("cannot be read"), qPrintable(error));
        QCOMPARE(session.queries()->rowCount(), 3);

        editor.table()->selectRow(2);
        editor.markSelected(true);
        QCOMPARE(session.queries()->heldOutCount(), 1);
        const QString out = dir.filePath("out.jsonl");
        QVERIFY2(editor.exportFile(out, &error), qPrintable(error));
        QCOMPARE(spui::readQueryJsonl(out, false).size(), size_t(3));
        // Fill-from-teacher needs a model; without one it is disabled rather than failing later.
        QVERIFY(!editor.findChild<QPushButton*>("fillTargetsButton")->isEnabled());
    }

    // Shift+Enter inserts a line break in the cell editor; Enter commits the whole text.
    void cellsTakeLineBreaks()
    {
        spui::Session session;
        spui::QueryEditor editor(&session);
        editor.show();
        QVERIFY(QTest::qWaitForWindowExposed(&editor));
        editor.addQuery(); // opens the editor on the new row
        QPlainTextEdit* cell = nullptr;
        QTRY_VERIFY((cell = editor.table()->findChild<QPlainTextEdit*>("multiLineCellEditor")) != nullptr);
        QTRY_VERIFY(cell->hasFocus());
        QTest::keyClicks(cell, "User: hi");
        QTest::keyClick(cell, Qt::Key_Return, Qt::ShiftModifier);
        QTest::keyClicks(cell, "Assistant:");
        QCOMPARE(session.queries()->rowCount(), 1);
        QCOMPARE(QString::fromStdString(session.queries()->queries()[0].text), QString()); // not yet
        QTest::keyClick(cell, Qt::Key_Return);
        QCOMPARE(QString::fromStdString(session.queries()->queries()[0].text),
                 QStringLiteral("User: hi\nAssistant:"));
        // The table shows the break as ↵ on one line.
        QCOMPARE(session.queries()->index(0, QueryTableModel::QueryColumn).data().toString(),
                 QStringLiteral("User: hi ↵ Assistant:"));
    }

    void templateWrapsPastedAndImportedQueries()
    {
        spui::Session session;
        spui::QueryEditor editor(&session);
        auto* templateEdit = editor.findChild<QLineEdit*>("queryTemplateEdit");
        QVERIFY(templateEdit);
        templateEdit->setText("User: {q}\\nAssistant:");
        emit templateEdit->editingFinished();
        QCOMPARE(session.queries()->queryTemplate(), QStringLiteral("User: {q}\nAssistant:"));
        QCOMPARE(editor.pasteMany("What is a blorf?\nWho are you?", false), 2);
        QCOMPARE(QString::fromStdString(session.queries()->queries()[0].text),
                 QStringLiteral("User: What is a blorf?\nAssistant:"));
        QVERIFY2(editor.lastNotice().contains("template"), qPrintable(editor.lastNotice()));
        QTemporaryDir dir;
        const QString path = dir.filePath("more.jsonl");
        spui::writeQueryJsonl(path, {{"Where is it?", "", false}});
        QVERIFY(editor.importFile(path, false, false));
        QCOMPARE(QString::fromStdString(session.queries()->queries()[2].text),
                 QStringLiteral("User: Where is it?\nAssistant:"));
        // A template without {q} is refused with a hint, and the old one stays.
        templateEdit->setText("User:");
        emit templateEdit->editingFinished();
        QCOMPARE(session.queries()->queryTemplate(), QStringLiteral("User: {q}\nAssistant:"));
        QVERIFY2(editor.lastNotice().contains("{q}"), qPrintable(editor.lastNotice()));
        QCOMPARE(templateEdit->text(), QStringLiteral("User: {q}\\nAssistant:"));
    }

    void duplicatesAreSkippedAndFlagged()
    {
        spui::Session session;
        spui::QueryEditor editor(&session);
        QCOMPARE(editor.pasteMany("one\ntwo\none\n", false), 2);
        QVERIFY2(editor.lastNotice().contains("skipped 1 duplicate"), qPrintable(editor.lastNotice()));
        QTemporaryDir dir;
        const QString path = dir.filePath("dupes.csv");
        spui::writeQueryCsv(path, {{"two", "", false}, {"three", "", false}, {" three ", "", false}});
        QVERIFY(editor.importFile(path, false, false));
        QCOMPARE(session.queries()->rowCount(), 3);
        QVERIFY2(editor.lastNotice().contains("skipped 2 duplicate"), qPrintable(editor.lastNotice()));
        // Typing a duplicate into the table is allowed, and flagged.
        QueryTableModel* model = session.queries();
        QVERIFY(model->setData(model->index(2, QueryTableModel::QueryColumn), "one"));
        QCOMPARE(model->duplicateOf(2), 0);
        QCOMPARE(model->duplicateCount(), 1);
        QVERIFY(model->index(2, QueryTableModel::QueryColumn).data(Qt::BackgroundRole).isValid());
        QVERIFY(!model->index(1, QueryTableModel::QueryColumn).data(Qt::BackgroundRole).isValid());
        QVERIFY(model->index(2, QueryTableModel::QueryColumn).data(Qt::ToolTipRole).toString().contains("row 1"));
        QVERIFY(editor.findChild<QLabel*>("queryCounts")->text().contains("1 duplicate"));
    }

    void pasteManyStartsEmpty()
    {
        spui::Session session;
        spui::QueryEditor editor(&session);
        QApplication::clipboard()->setText("A whole context that happens to be on the clipboard.\nLine 2");
        bool checked = false;
        QTimer::singleShot(0, [&checked] {
            for (QWidget* widget : QApplication::topLevelWidgets())
                if (widget->objectName() == QLatin1String("pasteManyDialog") && widget->isVisible()) {
                    auto* edit = widget->findChild<QPlainTextEdit*>("pasteManyEdit");
                    checked = edit && edit->toPlainText().isEmpty();
                    static_cast<QDialog*>(widget)->reject();
                }
        });
        editor.showPasteDialog();
        QVERIFY(checked);
        QCOMPARE(session.queries()->rowCount(), 0);
    }
};

SPUI_TEST_MAIN(TestQueryEditor)
#include "test_query_editor.moc"
