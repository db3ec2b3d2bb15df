// The coverage map: how context units are split and mapped to tokens, that leave-one-out with the
// KV cache is the same as running the shorter context from scratch, and, on the demo model and a
// shipped example, that the sentences stating the facts stand out and the filler does not.
#ifndef Q_MOC_RUN // moc needs none of these; following them into torch took it ~10 s a test
#include "test_engine_support.h"

#include "engine/coverage.h"
#include "engine/playground.h"
#include "softprompt/coverage.h"
#include "softprompt/error.h"
#include "softprompt/paths.h"

#include <ATen/Parallel.h>
#endif
#include <QtTest>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <regex>

using namespace enginetest;

namespace {

QStringList unitTexts(const std::string& text, sp::CoverageUnitKind kind)
{
    QStringList texts;
    for (const sp::TextSpan& span : sp::splitContextUnits(text, kind))
        texts << QString::fromStdString(text.substr(span.begin, span.end - span.begin));
    return texts;
}

struct Example {
    std::string context;
    std::vector<sp::Query> queries;
    std::vector<std::string> values; // the rules' words: "Ahoy", "Cheers", "Nova", "Lisbon", ...
    int length = 6;
};

Example loadExample(const std::string& id)
{
    const std::string folder = sp::examplesDirectory();
    const nlohmann::json index = nlohmann::json::parse(sp::readTextFile(folder + "/examples.json"));
    for (const nlohmann::json& entry : index.at("examples")) {
        if (entry.at("id") != id)
            continue;
        Example example;
        example.context = sp::readTextFile(folder + "/" + entry.at("context").get<std::string>());
        // Two training queries per answer (per fact) keep the leave-one-out passes short on 2 cores.
        std::map<std::string, int> perAnswer;
        std::vector<sp::Query> all = sp::readQueriesJsonl(folder + "/" + entry.at("train").get<std::string>());
        example.queries.clear();
        for (const sp::Query& query : all)
            if (++perAnswer[query.target] <= 2)
                example.queries.push_back(query);
        for (const nlohmann::json& rule : entry.at("rules")) {
            const std::string text = rule.get<std::string>();
            example.values.push_back(text.substr(text.find(": ") + 2));
        }
        example.length = entry.at("training").value("length", 6);
        return example;
    }
    throw std::runtime_error("no example " + id);
}

bool statesValue(const std::string& text, const std::vector<std::string>& values)
{
    for (const std::string& value : values)
        if (std::regex_search(text, std::regex("\\b" + value + "\\b")))
            return true;
    return false;
}

} // namespace

class TestCoverage : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase()
    {
        sp::model::configureCpuThreads();
        at::set_num_threads(1);
    }

    void splitsUnits_data()
    {
        QTest::addColumn<QString>("text");
        QTest::addColumn<bool>("paragraphs");
        QTest::addColumn<QStringList>("expected");
        QTest::newRow("sentences") << "Be kind. Say hi! Why? Pi is 3.14 here." << false
                                   << QStringList{"Be kind.", "Say hi!", "Why?", "Pi is 3.14 here."};
        QTest::newRow("line breaks end sentences")
            << "## Notes\nLog every call\n\n  Close early.  " << false
            << QStringList{"## Notes", "Log every call", "Close early."};
        QTest::newRow("quotes stay with their sentence") << "He said \"stop.\" Then left." << false
                                                         << QStringList{"He said \"stop.\"", "Then left."};
        QTest::newRow("paragraphs") << "One. Two.\nThree.\n\n \nFour.\n\nFive" << true
                                    << QStringList{"One. Two.\nThree.", "Four.", "Five"};
        QTest::newRow("whitespace only") << " \n\n\t " << false << QStringList{};
    }
    void splitsUnits()
    {
        QFETCH(QString, text);
        QFETCH(bool, paragraphs);
        QFETCH(QStringList, expected);
        QCOMPARE(unitTexts(text.toStdString(),
                           paragraphs ? sp::CoverageUnitKind::Paragraph : sp::CoverageUnitKind::Sentence),
                 expected);
    }

    // A token belongs to the unit where its first non-space character is; whitespace tokens to none.
    void mapsUnitsToTokens()
    {
        const std::string context = "Ab cd. Ef\n\nGh.";
        const std::vector<std::string> pieces{"Ab", " cd", ".", " Ef", "\n\n", "Gh", "."};
        const auto spans = sp::splitContextUnits(context, sp::CoverageUnitKind::Sentence);
        const auto ranges = sp::engine::unitTokenRanges(context, spans, pieces);
        QCOMPARE(int(ranges.size()), 3);
        QCOMPARE(ranges[0], std::make_pair(0, 3));
        QCOMPARE(ranges[1], std::make_pair(3, 1));
        QCOMPARE(ranges[2], std::make_pair(5, 2));
    }

    void leaveOutEqualsFreshForward_data()
    {
        QTest::addColumn<sp::Architecture>("architecture");
        QTest::addColumn<bool>("withBos");
        QTest::addColumn<int>("first");
        QTest::addColumn<int>("count");
        QTest::newRow("llama [BOS], middle") << sp::Architecture::Llama << true << 20 << 15;
        QTest::newRow("llama [BOS], start") << sp::Architecture::Llama << true << 0 << 10;
        QTest::newRow("gpt2, start (no prefix left)") << sp::Architecture::Gpt2 << false << 0 << 12;
        QTest::newRow("gpt2, end") << sp::Architecture::Gpt2 << false << 60 << 20;
    }
    // The KV-cache shortcut gives the logits of a fresh forward over the context without the
    // tokens, to float32 rounding (1e-4 on logits of size ~10).
    void leaveOutEqualsFreshForward()
    {
        QFETCH(sp::Architecture, architecture);
        QFETCH(bool, withBos);
        QFETCH(int, first);
        QFETCH(int, count);
        const sp::engine::EngineModel model = tinyModel(architecture, 9, withBos);
        const std::vector<std::int32_t> contextIds = model.encode(tinyContext());
        QVERIFY(first + count <= int(contextIds.size()));
        at::NoGradGuard noGrad;
        const auto prefixIds = [&](const std::vector<std::int32_t>& ids) {
            std::vector<std::int64_t> all(model.prefixIds.begin(), model.prefixIds.end());
            all.insert(all.end(), ids.begin(), ids.end());
            return at::tensor(all, at::kLong).view({1, std::int64_t(all.size())}); // [1, P]
        };
        sp::engine::PrefixState full;
        {
            auto output = model.lm->forwardIds(prefixIds(contextIds), nullptr, true);
            full.cache = std::move(output.cache);
            full.length = full.cache.length();
        }
        const sp::engine::PrefixState shortcut = sp::engine::leaveOutPrefix(
            *model.lm, full, std::int64_t(model.prefixIds.size()), contextIds, first, count);
        std::vector<std::int32_t> reduced(contextIds.begin(), contextIds.begin() + first);
        reduced.insert(reduced.end(), contextIds.begin() + first + count, contextIds.end());
        sp::engine::PrefixState fresh;
        if (!reduced.empty() || !model.prefixIds.empty()) {
            auto output = model.lm->forwardIds(prefixIds(reduced), nullptr, true);
            fresh.cache = std::move(output.cache);
            fresh.length = fresh.cache.length();
        }
        QCOMPARE(shortcut.length, fresh.length);
        const sp::engine::RowBatch row = sp::engine::makeRowBatch({model.encode("What is zorp?")}, fresh.length, at::kCPU);
        const at::Tensor expected = sp::engine::forwardRows(*model.lm, fresh, row, false).logits;  // [1, T, V]
        const at::Tensor actual = sp::engine::forwardRows(*model.lm, shortcut, row, false).logits; // [1, T, V]
        const double difference = (expected - actual).abs().max().item<double>();
        QVERIFY2(difference < 1e-4, qPrintable(QString("max |Δlogit| = %1").arg(difference)));
        QVERIFY(expected.abs().max().item<double>() > 1.0); // the comparison is not between zeros
    }

    // On the tiny model: leaving out nothing changes nothing (a unit without tokens), σ = the
    // context's own embeddings keeps everything, and the JSON round-trips.
    void mapOnTinyModel()
    {
        const sp::engine::EngineModel model = tinyModel(sp::Architecture::Llama, 5, true);
        const std::string context = tinyContext();
        auto task = sp::engine::makeTaskImpl(model, context, tinyQueries(6));
        std::vector<std::string> pieces;
        for (std::int32_t id : task->contextIds)
            pieces.push_back(model.piece(id));
        sp::TrainConfig config = fastConfig();
        config.target = sp::TargetKind::Continuation;
        config.continuationLength = 4;
        at::NoGradGuard noGrad;
        const std::vector<std::int64_t> ids(task->contextIds.begin(), task->contextIds.end());
        const sp::SoftPrompt contextSigma = sp::engine::softPromptFromTensor(
            model.lm->embed(at::tensor(ids, at::kLong).unsqueeze(0))[0]); // k = |c|
        sp::CoverageOptions options;
        options.influenceThreshold = 0.05;
        std::vector<double> fractions;
        const sp::CoverageMap map = sp::engine::computeCoverage(
            *task, pieces, config, &contextSigma, options, [&](double f) { fractions.push_back(f); }, nullptr);
        QCOMPARE(int(map.units.size()), 2);
        QCOMPARE(QString::fromStdString(map.units[0].text), QStringLiteral("Rules: answer in capitals, start with OK, end with a dot."));
        QCOMPARE(int(map.queries.size()), 6);
        QVERIFY(map.hasSigma);
        for (double kl : map.sigmaKl)
            QVERIFY2(kl < 1e-4, "σ = the context's embeddings is the teacher");
        int matters = 0;
        for (const sp::CoverageUnit& unit : map.units) {
            QCOMPARE(int(unit.influence.size()), 6);
            matters += int(unit.mattersFor.size());
            QCOMPARE(unit.keptFor, unit.mattersFor); // σ = c keeps every influence
            for (double value : unit.influence)
                QVERIFY(value >= 0.0);
        }
        QVERIFY2(matters > 0, "the random model reads its context");
        QVERIFY(!fractions.empty() && std::abs(fractions.back() - 1.0) < 1e-12);

        const sp::CoverageMap back = sp::CoverageMap::fromJson(map.toJson());
        QCOMPARE(back.toJson().dump(), map.toJson().dump());
        QCOMPARE(map.describe(map.units[0]).find("matters to"), std::size_t(0));

        std::atomic<bool> cancel{true};
        QVERIFY_THROWS_EXCEPTION(sp::Cancelled, sp::engine::computeCoverage(*task, pieces, config, nullptr, options, {}, &cancel));
    }

    void demoFactsStandOut_data()
    {
        QTest::addColumn<QString>("example");
        QTest::newRow("support-lisbon") << "support-lisbon";
    }
    // The acceptance check of issue 21: on the demo model and a shipped example, the sentences
    // that state a rule (a fact or a reply rule) matter and the filler does not.
    void demoFactsStandOut()
    {
        QFETCH(QString, example);
        sp::ModelHandle model;
        try {
            model = sp::ModelHandle::load("demo");
        } catch (const sp::Error& error) {
            QSKIP(qPrintable(QString("the demo model is not available: %1").arg(error.what())));
        }
        const Example data = loadExample(example.toStdString());
        sp::TrainConfig config;
        config.target = sp::TargetKind::Continuation;
        config.continuationLength = data.length;
        const sp::CoverageMap map = sp::computeCoverage(model, data.context, data.queries, config, nullptr, {});
        qInfo("%zu units, %zu queries, %.1f s", map.units.size(), map.queries.size(), map.seconds);
        std::vector<const sp::CoverageUnit*> facts, filler;
        for (const sp::CoverageUnit& unit : map.units)
            (statesValue(unit.text, data.values) ? facts : filler).push_back(&unit);
        for (const sp::CoverageUnit& unit : map.units)
            qInfo("%s mean %6.3f max %6.3f matters to %2zu  %s", statesValue(unit.text, data.values) ? "rule" : "    ",
                  unit.meanInfluence, unit.maxInfluence, unit.mattersFor.size(), unit.text.substr(0, 60).c_str());
        QVERIFY(filler.size() > 20);

        // The filler does not stand out: it matters to no query, and leaving any of it out moves the
        // teacher by less than a twentieth of the threshold.
        for (const sp::CoverageUnit* unit : filler) {
            QVERIFY2(unit->mattersFor.empty(), unit->text.c_str());
            QVERIFY2(unit->maxInfluence < 0.05 * map.options.influenceThreshold, unit->text.c_str());
        }
        // A rule stated in exactly one sentence stands out: leaving that sentence out changes the
        // teacher's answer (top-1) for at least one query, by at least half a nat. A value the context
        // repeats (the city in the persona line and in "Head office: Lisbon.") is not tested: without
        // one sentence the other still states it, which is what leave-one-out measures.
        int uniquelyStated = 0;
        for (const std::string& value : data.values) {
            std::vector<const sp::CoverageUnit*> stating;
            for (const sp::CoverageUnit* unit : facts)
                if (statesValue(unit->text, {value}))
                    stating.push_back(unit);
            if (stating.size() != 1)
                continue;
            ++uniquelyStated;
            const sp::CoverageUnit& unit = *stating.front();
            QVERIFY2(!unit.mattersFor.empty() && unit.maxInfluence >= 0.5, (value + ": " + unit.text).c_str());
            QVERIFY2(std::any_of(unit.answerChanges.begin(), unit.answerChanges.end(), [](bool c) { return c; }),
                     (value + ": " + unit.text).c_str());
        }
        QVERIFY2(uniquelyStated >= 4, "the example states most rules once");
    }
};

QTEST_GUILESS_MAIN(TestCoverage)
#include "test_coverage.moc"
