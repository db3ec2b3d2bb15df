// The chat-template engine, construct by construct: every statement, expression, test, filter,
// method and global that issue 16 lists, Jinja's whitespace rules with transformers' settings, the
// errors (line, column, construct; raise_exception's own words) and the resource limits.
//
// The expected texts are what Debian's python3-jinja2 3.1.2 renders for the same template and
// variables in transformers' environment (tests/chat/render_jinja2.py's make_environment, with
// strftime_now's clock fixed at 2025-03-14 12:00:00 UTC); the conformance test
// (test_chat_conformance) checks real templates against Jinja2 and @huggingface/jinja directly.
#include "test_chat_template_cases.h"

#include "softprompt/chat_template.h"

#include <QtTest>

namespace {

constexpr std::int64_t kFixedNow = 1741953600; // 2025-03-14 12:00:00 UTC

sp::ChatRenderInput inputWith(const QString& variablesJson) {
    sp::ChatRenderInput input;
    input.extraVariablesJson = variablesJson.toStdString();
    input.nowUnixSeconds = kFixedNow;
    return input;
}

} // namespace

class TestChatTemplate : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void rendersLikeJinja2_data() {
        QTest::addColumn<QString>("source");
        QTest::addColumn<QString>("variables");
        QTest::addColumn<QString>("expected");
        addRenderCases();
    }

    void rendersLikeJinja2() {
        QFETCH(QString, source);
        QFETCH(QString, variables);
        QFETCH(QString, expected);
        try {
            const auto tmpl = sp::ChatTemplate::compile(source.toStdString(), "unit");
            QCOMPARE(QString::fromStdString(tmpl.render(inputWith(variables))), expected);
        } catch (const sp::ChatTemplateError& e) {
            QFAIL(e.what());
        }
    }

    void renderErrorsNamePositionAndConstruct_data() {
        QTest::addColumn<QString>("source");
        QTest::addColumn<QString>("variables");
        QTest::addColumn<QString>("construct");
        QTest::addColumn<int>("line");
        QTest::addColumn<int>("column");
        QTest::addColumn<QString>("raisedMessage"); // null: not raised by the template
        addRenderErrorCases();
    }

    void renderErrorsNamePositionAndConstruct() {
        QFETCH(QString, source);
        QFETCH(QString, variables);
        QFETCH(QString, construct);
        QFETCH(int, line);
        QFETCH(int, column);
        QFETCH(QString, raisedMessage);
        const auto tmpl = sp::ChatTemplate::compile(source.toStdString(), "unit.jinja");
        try {
            tmpl.render(inputWith(variables));
            QFAIL("the render did not fail");
        } catch (const sp::ChatTemplateError& e) {
            QCOMPARE(QString::fromStdString(e.construct()), construct);
            QCOMPARE(e.line(), line);
            QCOMPARE(e.column(), column);
            QCOMPARE(e.raisedByTemplate(), !raisedMessage.isNull());
            if (!raisedMessage.isNull()) QCOMPARE(QString::fromStdString(e.message()), raisedMessage);
            const QString what = QString::fromUtf8(e.what());
            QVERIFY2(what.contains(QStringLiteral("line %1, column %2").arg(line).arg(column)), qPrintable(what));
            QVERIFY2(what.contains(QStringLiteral("unit.jinja")), qPrintable(what));
        }
    }

    void syntaxErrorsNamePositionAndConstruct_data() {
        QTest::addColumn<QString>("source");
        QTest::addColumn<QString>("construct");
        QTest::addColumn<int>("line");
        QTest::addColumn<int>("column");
        addSyntaxErrorCases();
    }

    void syntaxErrorsNamePositionAndConstruct() {
        QFETCH(QString, source);
        QFETCH(QString, construct);
        QFETCH(int, line);
        QFETCH(int, column);
        try {
            sp::ChatTemplate::compile(source.toStdString(), "unit.jinja");
            QFAIL("the template compiled");
        } catch (const sp::ChatTemplateError& e) {
            QCOMPARE(QString::fromStdString(e.construct()), construct);
            QCOMPARE(e.line(), line);
            QCOMPARE(e.column(), column);
            QVERIFY(!e.raisedByTemplate());
        }
    }

    // The public input: messages, add_generation_prompt, special tokens, tools=None and
    // documents=None as transformers passes them, extra variables, and a "messages" override.
    void renderInputReachesTheTemplate() {
        const auto tmpl = sp::ChatTemplate::compile(
            "{{ bos_token }}{% for m in messages %}[{{ m.role }}:{{ m.content }}{{ '+' if m.tool_calls is defined }}]{% endfor %}"
            "{{ add_generation_prompt }} {{ tools is none }} {{ documents is none }} {{ enable_thinking is defined }}");
        sp::ChatRenderInput input;
        input.messages = {{"system", "S"}, {"user", "U"}};
        input.specialTokens["bos_token"] = "<s>";
        QCOMPARE(tmpl.render(input), std::string("<s>[system:S][user:U]False True True False"));
        input.addGenerationPrompt = true;
        input.extraVariablesJson = R"({"enable_thinking": false, "messages": [{"role": "assistant", "content": "A", "tool_calls": []}]})";
        QCOMPARE(tmpl.render(input), std::string("<s>[assistant:A+]True True True True"));
        input.extraVariablesJson = "[1]";
        QVERIFY_THROWS_EXCEPTION(sp::ChatTemplateError, tmpl.render(input));
    }

    // Templates are downloaded files: runaway loops, deep recursion and huge outputs end in an error.
    void limitsStopRunawayTemplates_data() {
        QTest::addColumn<QString>("source");
        QTest::addColumn<QString>("messageContains");
        QTest::newRow("recursion") << QStringLiteral("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}")
                                   << QStringLiteral("nest");
        QTest::newRow("output-size") << QStringLiteral("{% for i in range(100000) %}{{ 'x' * 100000 }}{% endfor %}")
                                     << QStringLiteral("larger than");
        QTest::newRow("range-size") << QStringLiteral("{{ range(1000000)|length }}") << QStringLiteral("range()");
        QTest::newRow("steps") << QStringLiteral("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}")
                               << QStringLiteral("steps");
        QTest::newRow("string-repeat") << QStringLiteral("{{ 'x' * 10000000000 }}") << QStringLiteral("larger than");
    }

    void limitsStopRunawayTemplates() {
        QFETCH(QString, source);
        QFETCH(QString, messageContains);
        auto tmpl = sp::ChatTemplate::compile(source.toStdString());
        sp::ChatTemplateLimits limits;
        limits.maxSteps = 1'000'000;
        limits.maxOutputBytes = 8u << 20;
        tmpl.setLimits(limits);
        try {
            tmpl.render({});
            QFAIL("the render did not stop");
        } catch (const sp::ChatTemplateError& e) {
            QVERIFY2(QString::fromStdString(e.message()).contains(messageContains), e.what());
        }
    }

    void deepNestingIsASyntaxErrorNotACrash() {
        const std::string parens = std::string(5000, '(') + "1" + std::string(5000, ')');
        QVERIFY_THROWS_EXCEPTION(sp::ChatTemplateError, sp::ChatTemplate::compile("{{ " + parens + " }}"));
        std::string chain = "{{ 1";
        for (int i = 0; i < 100000; ++i) chain += " + 1";
        QVERIFY_THROWS_EXCEPTION(sp::ChatTemplateError, sp::ChatTemplate::compile(chain + " }}"));
        std::string blocks;
        for (int i = 0; i < 5000; ++i) blocks += "{% if true %}";
        QVERIFY_THROWS_EXCEPTION(sp::ChatTemplateError, sp::ChatTemplate::compile(blocks));
    }

    void strftimeNowUsesTheRealClockWhenUnset() {
        const auto tmpl = sp::ChatTemplate::compile("{{ strftime_now('%Y') }}");
        const int year = QString::fromStdString(tmpl.render({})).toInt();
        QVERIFY2(year >= 2024 && year < 2200, "strftime_now('%Y') is not a plausible current year");
    }
};

QTEST_GUILESS_MAIN(TestChatTemplate)
#include "test_chat_template.moc"
