// The playground's generation: a greedy answer under each condition is the engine's own
// evaluation of that condition, sampling with a seed is reproducible, a conversation continues
// with σ in place of the context, and cancel stops between tokens. On a tiny random model.
#ifndef Q_MOC_RUN // moc needs none of these; following them into torch took it ~10 s a test
#include "test_engine_support.h"

#include "engine/playground.h"
#include "softprompt/error.h"

#include <ATen/Parallel.h>
#endif
#include <QtTest>

#include <cmath>

using namespace enginetest;
Q_DECLARE_METATYPE(sp::Condition)
Q_DECLARE_METATYPE(sp::Architecture)

namespace {

constexpr int kLength = 8; // L: the evaluation's greedy length and the playground's max new tokens

// A σ that is not the context: a seeded random init of k = 4 rows (what training starts from).
sp::SoftPrompt someSigma(const sp::engine::EngineModel& model)
{
    auto task = sp::engine::makeTaskImpl(model, tinyContext(), tinyQueries());
    sp::TrainConfig config = fastConfig();
    config.init = sp::InitKind::Random;
    return sp::engine::softPromptFromTensor(task->initialSigma(config));
}

sp::Playground makePlayground(const sp::engine::EngineModel& model)
{
    sp::Playground playground(sp::engine::makePlaygroundImpl(model, tinyContext()));
    playground.setSigma(someSigma(model));
    return playground;
}

std::vector<std::int32_t> idsOf(const sp::Generation& generation)
{
    std::vector<std::int32_t> ids;
    for (const sp::GeneratedToken& token : generation.tokens)
        ids.push_back(token.id);
    return ids;
}

} // namespace

class TestPlayground : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase()
    {
        sp::model::configureCpuThreads();
        at::set_num_threads(1);
    }

    void greedyMatchesEvaluation_data()
    {
        QTest::addColumn<sp::Architecture>("architecture");
        QTest::addColumn<bool>("withBos");
        QTest::addColumn<sp::Condition>("condition");
        for (sp::Condition condition : sp::playgroundConditions()) {
            const QByteArray name = QByteArray::fromStdString(sp::conditionKey(condition));
            QTest::newRow("llama [BOS] " + name) << sp::Architecture::Llama << true << condition;
            QTest::newRow("gpt2 " + name) << sp::Architecture::Gpt2 << false << condition;
        }
    }
    // For every query, the playground's greedy answer under a condition is token for token the
    // prediction the engine's evaluator makes for that condition (same layout, same prefix).
    void greedyMatchesEvaluation()
    {
        QFETCH(sp::Architecture, architecture);
        QFETCH(bool, withBos);
        QFETCH(sp::Condition, condition);
        const sp::engine::EngineModel model = tinyModel(architecture, 5, withBos);
        const sp::SoftPrompt sigma = someSigma(model);
        sp::CompressionTask task = makeTask(model);
        sp::TrainConfig config = fastConfig();
        config.k = sigma.k;
        config.target = sp::TargetKind::Continuation;
        config.continuationLength = kLength;
        const sp::Evaluation evaluation = task.evaluate(sigma, config, {condition});
        const sp::Playground playground = makePlayground(model);

        sp::SamplingSettings greedy;
        greedy.maxNewTokens = kLength;
        for (const sp::QueryEvaluation& query : evaluation.queries) {
            const sp::Generation generation = playground.generate(condition, {}, query.query, greedy);
            const std::vector<std::int32_t> expected = query.outcomes.front().predictionIds;
            QCOMPARE(idsOf(generation), expected);
            QCOMPARE(generation.text, query.outcomes.front().prediction);
        }
    }

    // The reported probabilities are the model's at temperature 1: sorted, at most 1 in sum, and the
    // greedy token is the most probable one.
    void topKProbabilities()
    {
        const sp::engine::EngineModel model = tinyModel();
        const sp::Playground playground = makePlayground(model);
        sp::SamplingSettings greedy;
        greedy.maxNewTokens = 6;
        greedy.topK = 5;
        const sp::Generation generation =
            playground.generate(sp::Condition::FullContext, {}, "What is zorp?", greedy);
        QVERIFY(!generation.tokens.empty());
        for (const sp::GeneratedToken& token : generation.tokens) {
            QCOMPARE(int(token.topK.size()), 5);
            double sum = 0.0;
            for (std::size_t i = 0; i < token.topK.size(); ++i) {
                sum += token.topK[i].probability;
                if (i > 0)
                    QVERIFY(token.topK[i].probability <= token.topK[i - 1].probability);
            }
            QVERIFY(sum <= 1.0 + 1e-9);
            QCOMPARE(token.topK.front().id, token.id);
            QVERIFY(std::abs(token.topK.front().probability - token.probability) < 1e-12);
        }
    }

    // Reading a generated answer back under the same condition gives the probabilities it was
    // generated with; under another condition, other probabilities for the same tokens.
    void scoreReadsAnswersBack()
    {
        const sp::engine::EngineModel model = tinyModel();
        const sp::Playground playground = makePlayground(model);
        sp::SamplingSettings greedy;
        greedy.maxNewTokens = 8;
        greedy.topK = 3;
        const sp::Generation generation = playground.generate(sp::Condition::SoftPrompt, {}, "Who are you?", greedy);
        const std::vector<std::int32_t> reply = idsOf(generation);
        const std::vector<sp::GeneratedToken> same =
            playground.score(sp::Condition::SoftPrompt, {}, "Who are you?", reply, 3);
        QCOMPARE(same.size(), generation.tokens.size());
        for (std::size_t i = 0; i < same.size(); ++i) {
            QCOMPARE(same[i].id, reply[i]);
            QVERIFY2(std::abs(same[i].probability - generation.tokens[i].probability) < 1e-5,
                     qPrintable(QString("token %1: %2 vs %3").arg(i).arg(same[i].probability).arg(generation.tokens[i].probability)));
            QCOMPARE(same[i].topK.front().id, generation.tokens[i].topK.front().id);
        }
        const std::vector<sp::GeneratedToken> other =
            playground.score(sp::Condition::NoContext, {}, "Who are you?", reply, 3);
        double difference = 0.0;
        for (std::size_t i = 0; i < other.size(); ++i)
            difference += std::abs(other[i].probability - same[i].probability);
        QVERIFY(difference > 1e-3);
    }

    void samplingIsReproducible_data()
    {
        QTest::addColumn<sp::Condition>("condition");
        for (sp::Condition condition : sp::playgroundConditions())
            QTest::newRow(sp::conditionKey(condition).c_str()) << condition;
    }
    // The same seed gives the same tokens; other seeds give other tokens (at temperature 2 the tiny
    // model's distributions are wide); a top-p so small that one token is kept is greedy.
    void samplingIsReproducible()
    {
        QFETCH(sp::Condition, condition);
        const sp::engine::EngineModel model = tinyModel();
        const sp::Playground playground = makePlayground(model);
        sp::SamplingSettings sampled;
        sampled.sample = true;
        sampled.temperature = 2.0;
        sampled.topP = 0.95;
        sampled.maxNewTokens = 16;
        sampled.seed = 42;
        const std::vector<std::int32_t> first = idsOf(playground.generate(condition, {}, "Say hi", sampled));
        const std::vector<std::int32_t> again = idsOf(playground.generate(condition, {}, "Say hi", sampled));
        QCOMPARE(again, first);
        int differing = 0;
        for (std::uint64_t seed = 1; seed <= 4; ++seed) {
            sampled.seed = seed;
            differing += idsOf(playground.generate(condition, {}, "Say hi", sampled)) != first ? 1 : 0;
        }
        QVERIFY2(differing >= 3, qPrintable(QString("only %1 of 4 other seeds changed the answer").arg(differing)));

        sampled.topP = 1e-9;
        sp::SamplingSettings greedy;
        greedy.maxNewTokens = 16;
        QCOMPARE(idsOf(playground.generate(condition, {}, "Say hi", sampled)),
                 idsOf(playground.generate(condition, {}, "Say hi", greedy)));
    }

    // A second turn reads q₁ a₁ "\n" q₂ after σ (the end-of-text token of a₁ dropped): the same ids
    // as asking the whole conversation as one question.
    void conversationContinuesWithSigma()
    {
        const sp::engine::EngineModel model = tinyModel();
        const sp::Playground playground = makePlayground(model);
        sp::SamplingSettings greedy;
        greedy.maxNewTokens = 10;
        const sp::Generation first = playground.generate(sp::Condition::SoftPrompt, {}, "Who are you?", greedy);
        std::vector<std::int32_t> reply = idsOf(first);
        reply.push_back(kEos); // as if the answer had ended with end-of-text
        const std::vector<sp::ConversationTurn> history{{"Who are you?", reply}};
        const std::vector<std::int32_t> ids = playground.conversationIds(history, "Why?");
        std::vector<std::int32_t> expected = model.encode("Who are you?");
        for (std::int32_t id : idsOf(first))
            if (id != kEos)
                expected.push_back(id);
        for (std::int32_t id : model.encode("\nWhy?"))
            expected.push_back(id);
        QCOMPARE(ids, expected);

        const sp::Generation second = playground.generate(sp::Condition::SoftPrompt, history, "Why?", greedy);
        const std::string flat = "Who are you?" + model.decode(idsOf(first)) + "\nWhy?";
        const sp::Generation asOne = playground.generate(sp::Condition::SoftPrompt, {}, flat, greedy);
        QCOMPARE(idsOf(second), idsOf(asOne));
        QCOMPARE(second.promptTokens, int(1 + 4 + ids.size())); // BOS + k + conversation
    }

    void cancelStopsBetweenTokens()
    {
        const sp::engine::EngineModel model = tinyModel();
        const sp::Playground playground = makePlayground(model);
        std::atomic<bool> cancel{false};
        int seen = 0;
        sp::SamplingSettings settings;
        settings.maxNewTokens = 30;
        const sp::Generation generation = playground.generate(
            sp::Condition::NoContext, {}, "Count to 3", settings,
            [&](const sp::GeneratedToken&) {
                if (++seen == 3)
                    cancel.store(true);
            },
            &cancel);
        QVERIFY(generation.cancelled);
        QCOMPARE(int(generation.tokens.size()), 3);
    }

    void errorsSayWhatToDo_data()
    {
        QTest::addColumn<int>("which");
        QTest::addColumn<QString>("expected");
        QTest::newRow("no σ") << 0 << "pick a trained run";
        QTest::newRow("baseline condition") << 1 << "full context, σ or no context";
        QTest::newRow("empty question") << 2 << "type a question";
        QTest::newRow("bad top-p") << 3 << "top-p must be in (0, 1]";
        QTest::newRow("σ for another model") << 4 << "hidden size";
    }
    void errorsSayWhatToDo()
    {
        QFETCH(int, which);
        QFETCH(QString, expected);
        const sp::engine::EngineModel model = tinyModel();
        sp::Playground playground(sp::engine::makePlaygroundImpl(model, tinyContext()));
        sp::SamplingSettings settings;
        try {
            switch (which) {
            case 0:
                playground.generate(sp::Condition::SoftPrompt, {}, "Say hi", settings);
                break;
            case 1:
                playground.generate(sp::Condition::FirstK, {}, "Say hi", settings);
                break;
            case 2:
                playground.generate(sp::Condition::FullContext, {}, "  \n", settings);
                break;
            case 3:
                settings.sample = true;
                settings.topP = 1.5;
                playground.generate(sp::Condition::FullContext, {}, "Say hi", settings);
                break;
            case 4: {
                sp::SoftPrompt wrong;
                wrong.k = 2;
                wrong.dim = 7;
                wrong.values.assign(14, 0.5f);
                playground.setSigma(wrong);
                break;
            }
            }
            QFAIL("no error");
        } catch (const sp::Error& error) {
            QVERIFY2(QString::fromStdString(error.what()).contains(expected), error.what());
        }
    }
};

QTEST_GUILESS_MAIN(TestPlayground)
#include "test_playground.moc"
