// The context editor with a real Hugging Face tokenizer (TinyLlama's, from the shared fixtures):
// live token counts after typing, the window-fill bar, the token-boundary view, the over-long
// warning and its two truncation choices, and opening files.
#include "ContextEditor.h"
#include "Session.h"
#include "softprompt/tokenizer.h"
#include "test_support.h"
#include "ui_test_support.h"

#include <QFrame>
#include <QLabel>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSignalSpy>
#include <QTemporaryDir>

namespace {

const QString kParagraph = QStringLiteral(
    "Always answer in capital letters. Sign every reply with the name Nova. The glossary follows: a "
    "blorf is a small lamp, a trindle is a red door. ");

} // namespace

class TestContextEditor : public QObject {
    Q_OBJECT
private slots:
    void initTestCase()
    {
        SP_REQUIRE_SHARED_FIXTURE(path, "tokenizers/tinyllama-tokenizer.json");
        tokenizer_ = sp::Tokenizer::fromFile(path.toStdString());
    }

    void countsTokensAsTheTokenizerDoes()
    {
        spui::Session session;
        spui::ContextEditor editor(&session);
        editor.setTokenizer(*tokenizer_, 2048);
        editor.setText(kParagraph, "rules.txt");
        const int expected = int(tokenizer_->encode(kParagraph.toStdString()).size());
        QCOMPARE(editor.tokenCount(), expected);
        QVERIFY(!editor.isOverLong());
        QVERIFY2(editor.findChild<QLabel*>("contextTokenCount")
                     ->text()
                     .startsWith(QString::number(expected) + " tokens"),
                 qPrintable(editor.findChild<QLabel*>("contextTokenCount")->text()));
        QCOMPARE(editor.findChild<QProgressBar*>("windowFill")->value(),
                 int(std::lround(100.0 * expected / 2048)));
        QCOMPARE(session.context(), kParagraph);
        QCOMPARE(editor.findChild<QLabel*>("contextName")->text().contains("rules.txt"), true);
    }

    void tokenBoundaryViewShowsEveryPiece()
    {
        spui::Session session;
        spui::ContextEditor editor(&session);
        editor.setTokenizer(*tokenizer_, 2048);
        editor.setText(QStringLiteral("a blorf <is> \"here\"\nnext line"));
        const QString html = editor.tokenBoundaryHtml();
        QCOMPARE(html.count("<span"), editor.tokenCount());
        QVERIFY(html.contains("&lt;"));  // escaped, not interpreted
        QVERIFY(html.contains("↵<br>")); // line breaks are visible
        const std::vector<std::string> pieces =
            tokenizer_->decodePieces(tokenizer_->encode("a blorf <is> \"here\"\nnext line"));
        QVERIFY(html.contains(QString::fromStdString(pieces[1]).toHtmlEscaped().replace(" ", "&nbsp;")));
    }

    void typingRecountsAfterAPause()
    {
        spui::Session session;
        spui::ContextEditor editor(&session);
        editor.setTokenizer(*tokenizer_, 2048);
        editor.show();
        QVERIFY(QTest::qWaitForWindowExposed(&editor));
        QSignalSpy counted(&editor, &spui::ContextEditor::tokenCountChanged);
        auto* text = editor.findChild<QPlainTextEdit*>("contextEdit");
        QTest::keyClicks(text, "Sign every reply");
        // One recount after typing stops, not one per key.
        QTRY_COMPARE(counted.count(), 1);
        QCOMPARE(editor.tokenCount(), int(tokenizer_->encode("Sign every reply").size()));
        QCOMPARE(session.context(), QStringLiteral("Sign every reply"));
    }

    void longTextsAreCountedInTheBackground()
    {
        spui::Session session;
        spui::ContextEditor editor(&session);
        editor.setTokenizer(*tokenizer_, 1 << 20);
        auto* text = editor.findChild<QPlainTextEdit*>("contextEdit");
        const QString first = kParagraph.repeated(200);  // ~30k characters: counted off the GUI thread
        const QString second = kParagraph.repeated(260); // edited again before the first count lands
        QSignalSpy counted(&editor, &spui::ContextEditor::tokenCountChanged);
        text->setPlainText(first);
        QTest::qWait(300); // the typing pause elapses and the first count starts
        text->setPlainText(second);
        const int expected = int(tokenizer_->encode(second.toStdString()).size());
        QTRY_COMPARE_WITH_TIMEOUT(editor.tokenCount(), expected, 20000);
        QTest::qWait(200);
        // Whatever finished first, the count shown is the latest text's.
        QCOMPARE(editor.tokenCount(), expected);
        QCOMPARE(counted.last().first().toInt(), expected);
    }

    void overLongWarningOffersChoices_data()
    {
        QTest::addColumn<bool>("keepFirst");
        QTest::newRow("keep the first part") << true;
        QTest::newRow("keep the last part") << false;
    }

    void overLongWarningOffersChoices()
    {
        QFETCH(bool, keepFirst);
        spui::Session session;
        spui::ContextEditor editor(&session);
        editor.setReservedTokens(16);
        editor.setTokenizer(*tokenizer_, 128); // a small window: 112 tokens of context fit
        editor.show();
        QVERIFY(QTest::qWaitForWindowExposed(&editor));
        const QString original = kParagraph.repeated(6).trimmed();
        editor.setText(original);
        QVERIFY(editor.tokenCount() > 112);
        QVERIFY(editor.isOverLong());
        auto* warning = editor.findChild<QFrame*>("contextTooLongWarning");
        QVERIFY(warning->isVisible());
        QTest::mouseClick(editor.findChild<QPushButton*>(keepFirst ? "keepFirstButton" : "keepLastButton"),
                          Qt::LeftButton);
        QVERIFY2(editor.tokenCount() <= 112, qPrintable(QString::number(editor.tokenCount())));
        QVERIFY(editor.tokenCount() > 90); // it keeps as much as fits, not a fragment
        QVERIFY(!editor.isOverLong());
        QVERIFY(!warning->isVisible());
        const QString kept = editor.text().trimmed();
        QVERIFY2(keepFirst ? original.startsWith(kept) : original.endsWith(kept), qPrintable(kept));
    }

    void leavingItAsItIsHidesTheWarning()
    {
        spui::Session session;
        spui::ContextEditor editor(&session);
        editor.setTokenizer(*tokenizer_, 64);
        editor.show();
        QVERIFY(QTest::qWaitForWindowExposed(&editor));
        editor.setText(kParagraph.repeated(3));
        auto* warning = editor.findChild<QFrame*>("contextTooLongWarning");
        QVERIFY(warning->isVisible());
        QPushButton* leave = nullptr;
        for (QPushButton* button : warning->findChildren<QPushButton*>())
            if (button->text().contains("Leave"))
                leave = button;
        QVERIFY(leave);
        QTest::mouseClick(leave, Qt::LeftButton);
        QVERIFY(!warning->isVisible());
        QVERIFY(editor.isOverLong()); // still too long: training will refuse it
        QCOMPARE(editor.text(), kParagraph.repeated(3));
    }

    void withoutAModelOnlyCharactersAreCounted()
    {
        spui::Session session;
        spui::ContextEditor editor(&session);
        editor.setText("twelve chars");
        QCOMPARE(editor.tokenCount(), -1);
        QVERIFY(editor.findChild<QLabel*>("contextTokenCount")->text().contains("12 characters"));
    }

    void opensUtf8FilesAndRejectsOthers()
    {
        spui::Session session;
        spui::ContextEditor editor(&session);
        QTemporaryDir dir;
        QFile good(dir.filePath("context.txt"));
        QVERIFY(good.open(QIODevice::WriteOnly));
        good.write("\xEF\xBB\xBFZ\xC3\xBCrich caf\xC3\xA9\n");
        good.close();
        QString error;
        QVERIFY2(editor.openFile(good.fileName(), &error), qPrintable(error));
        QCOMPARE(editor.text(), QStringLiteral("Zürich café\n")); // the byte-order mark is dropped
        QFile bad(dir.filePath("latin1.txt"));
        QVERIFY(bad.open(QIODevice::WriteOnly));
        bad.write("caf\xE9\n");
        bad.close();
        QVERIFY(!editor.openFile(bad.fileName(), &error));
        QVERIFY2(error.contains("not UTF-8"), qPrintable(error));
        QCOMPARE(editor.text(), QStringLiteral("Zürich café\n")); // unchanged
        QVERIFY(!editor.openFile(dir.filePath("missing.txt"), &error));
        QVERIFY2(error.contains("cannot be read"), qPrintable(error));
        // NUL bytes are valid UTF-8 but no text anyone meant as a context (a sparse or binary file).
        QFile zeros(dir.filePath("zeros.txt"));
        QVERIFY(zeros.open(QIODevice::WriteOnly));
        zeros.write(QByteArray(4096, '\0'));
        zeros.close();
        QVERIFY(!editor.openFile(zeros.fileName(), &error));
        QVERIFY2(error.contains("NUL bytes") && error.contains("4096 of 4096"), qPrintable(error));
        QCOMPARE(editor.text(), QStringLiteral("Zürich café\n")); // unchanged
    }

private:
    std::optional<sp::Tokenizer> tokenizer_;
};

SPUI_TEST_MAIN(TestContextEditor)
#include "test_context_editor.moc"
