// The evaluator, the teacher cache, validation, initialisations, the held-out split and the sweep,
// on a tiny random model made in the test.
#ifndef Q_MOC_RUN // moc needs none of these; following them into torch took it ~10 s a test
#include "test_engine_support.h"

#include "softprompt/error.h"

#include <ATen/Parallel.h>
#endif
#include <QtTest>

#include <cmath>

using namespace enginetest;
Q_DECLARE_METATYPE(sp::Architecture)

namespace {

const sp::ConditionOutcome& outcomeOf(const sp::QueryEvaluation& query, sp::Condition condition)
{
    for (const sp::ConditionOutcome& outcome : query.outcomes)
        if (outcome.condition == condition)
            return outcome;
    throw std::runtime_error("condition missing");
}

sp::SoftPrompt contextAsSigma(const sp::engine::EngineModel& model, const std::string& context)
{
    const std::vector<std::int32_t> ids = model.encode(context);
    const at::Tensor idTensor =
        at::tensor(std::vector<std::int64_t>(ids.begin(), ids.end()), at::kLong).unsqueeze(0);
    return sp::engine::softPromptFromTensor(model.lm->embed(idTensor)[0]);
}

} // namespace

class TestEngineEval : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase()
    {
        sp::model::configureCpuThreads();
        at::set_num_threads(1);
    }

    void layout_data()
    {
        QTest::addColumn<sp::Architecture>("architecture");
        QTest::addColumn<bool>("withBos");
        QTest::newRow("llama [BOS] σ z") << sp::Architecture::Llama << true;
        QTest::newRow("llama σ z") << sp::Architecture::Llama << false;
        QTest::newRow("gpt2 σ z") << sp::Architecture::Gpt2 << false;
    }
    // σ set to the context's own token embeddings (k = |c|) must reproduce the teacher exactly:
    // proves the student layout ([BOS] σ z, positions, masks, padding) matches the teacher's
    // ([BOS] c z through the cached KV prefix).
    void layout()
    {
        QFETCH(sp::Architecture, architecture);
        QFETCH(bool, withBos);
        const sp::engine::EngineModel model = tinyModel(architecture, 11, withBos);
        const sp::SoftPrompt sigma = contextAsSigma(model, tinyContext());
        sp::CompressionTask task = makeTask(model);
        sp::TrainConfig config = fastConfig();
        config.k = sigma.k;
        config.target = sp::TargetKind::Continuation;
        config.continuationLength = 5;
        const sp::Evaluation evaluation = task.evaluate(
            sigma, config, {sp::Condition::SoftPrompt, sp::Condition::FullContext, sp::Condition::NoContext});
        double noContextKl = 0;
        for (const sp::QueryEvaluation& query : evaluation.queries) {
            for (sp::Condition condition : {sp::Condition::SoftPrompt, sp::Condition::FullContext}) {
                const sp::ConditionOutcome& outcome = outcomeOf(query, condition);
                QVERIFY2(outcome.kl < 1e-5,
                         qPrintable(QString("%1: KL %2").arg(query.query.c_str()).arg(outcome.kl)));
                QVERIFY(outcome.top1Agrees);
                QVERIFY(outcome.exactMatch);
                QCOMPARE(int(outcome.perTokenDivergence.size()),
                         int(outcomeOf(query, sp::Condition::FullContext).predictionIds.size()));
            }
            noContextKl += outcomeOf(query, sp::Condition::NoContext).kl;
        }
        QVERIFY(noContextKl / evaluation.queries.size() > 0.05); // the context matters on this model
    }

    // The student forward gives each row the same logits alone (one pass over prefix ⊕ row) as in
    // a padded batch (the prefix run once, the rows on its KV cache); gradients to σ agree too.
    void batchedStudentMatchesSingleRows()
    {
        const sp::engine::EngineModel model = tinyModel();
        const std::vector<std::string> texts{"a longer query here", "hi", "zorp?"};
        std::vector<std::vector<std::int32_t>> rows;
        for (const std::string& text : texts)
            rows.push_back(model.encode(text));
        const sp::engine::RowBatch batch = sp::engine::makeRowBatch(rows, 0, at::kCPU);
        const at::Tensor embeds = model.lm->embed(batch.ids); // [3, T, d]
        std::vector<std::int64_t> last;
        for (const auto& row : rows)
            last.push_back(std::int64_t(row.size()) - 1);
        const at::Tensor targets = at::tensor(last, at::kLong).view({3, 1}); // [3, 1]
        const at::Tensor sigma = (at::randn({5, 32}) * 0.3).requires_grad_(true);
        const at::Tensor batched =
            sp::engine::studentTargetLogits(*model.lm, sigma, embeds, batch.lengths, targets);
        const at::Tensor batchedGradient = torch::autograd::grad({batched.logsumexp(-1).sum()}, {sigma})[0];
        at::Tensor singleGradient = at::zeros_like(sigma);
        for (std::int64_t b = 0; b < 3; ++b) {
            const at::Tensor alone = sp::engine::studentTargetLogits(
                *model.lm, sigma, embeds[b].narrow(0, 0, batch.lengths[std::size_t(b)]).unsqueeze(0),
                {batch.lengths[std::size_t(b)]}, targets[b].unsqueeze(0));
            QVERIFY(at::allclose(alone[0], batched[b], 1e-4, 1e-5));
            singleGradient += torch::autograd::grad({alone.logsumexp(-1).sum()}, {sigma})[0];
        }
        QVERIFY(at::allclose(singleGradient, batchedGradient, 1e-4, 1e-5));
    }

    // Every query under every condition, with sensible values and intervals.
    void evaluationReportsEveryCondition()
    {
        sp::CompressionTask task = makeTask();
        sp::TrainConfig config = fastConfig();
        config.steps = 40;
        config.target = sp::TargetKind::Continuation;
        config.continuationLength = 4;
        sp::TrainControl control;
        const sp::TrainResult result = task.train(config, {}, control);
        const sp::Evaluation evaluation = task.evaluate(result.sigma, config);

        QCOMPARE(int(evaluation.queries.size()), 12);
        int heldout = 0;
        double trainS = 0;
        for (const sp::QueryEvaluation& query : evaluation.queries) {
            heldout += query.heldOut;
            QCOMPARE(int(query.outcomes.size()), 6);
            const sp::ConditionOutcome& full = outcomeOf(query, sp::Condition::FullContext);
            QVERIFY(full.kl < 1e-5 && full.s < 1e-5 && full.top1Agrees && full.exactMatch);
            QVERIFY(full.kl >= 0.0 && full.s >= 0.0); // never float noise below 0
            for (const sp::ConditionOutcome& outcome : query.outcomes) {
                QVERIFY(outcome.kl >= 0.0 && std::isfinite(outcome.s) && outcome.teacherNll >= 0);
                QVERIFY(!outcome.predictionIds.empty() && outcome.predictionIds.size() <= 4);
                QCOMPARE(outcome.prediction, tinyModel().decode(outcome.predictionIds));
                QCOMPARE(int(outcome.topK.size()), 10);
                double mass = 0;
                for (std::size_t i = 0; i < outcome.topK.size(); ++i) {
                    mass += outcome.topK[i].probability;
                    if (i)
                        QVERIFY(outcome.topK[i].probability <= outcome.topK[i - 1].probability);
                }
                QVERIFY(mass <= 1.0 + 1e-6);
                QCOMPARE(outcome.top1Agrees, outcome.topK[0].id == full.predictionIds[0]);
                QCOMPARE(int(outcome.perTokenDivergence.size()), int(full.predictionIds.size()));
                double mean = 0;
                for (double value : outcome.perTokenDivergence)
                    mean += value;
                QVERIFY(std::abs(mean / outcome.perTokenDivergence.size() - outcome.kl) < 1e-5);
            }
            if (!query.heldOut)
                trainS += outcomeOf(query, sp::Condition::SoftPrompt).s;
        }
        QCOMPARE(heldout, 2); // 20% of 12, rounded
        // The evaluator (σ as a cached prefix) and the trainer (one forward) agree on s.
        QVERIFY2(std::abs(trainS / 10 - result.finalTrainS) < 1e-4,
                 qPrintable(QString("%1 vs %2").arg(trainS / 10).arg(result.finalTrainS)));

        QCOMPARE(int(evaluation.heldout.size()), 6);
        QCOMPARE(int(evaluation.train.size()), 6);
        for (const auto* aggregates : {&evaluation.heldout, &evaluation.train})
            for (const sp::ConditionAggregate& aggregate : *aggregates)
                for (const sp::Interval& interval :
                     {aggregate.s, aggregate.kl, aggregate.top1Agreement, aggregate.exactMatch})
                    QVERIFY(interval.low <= interval.mean + 1e-12 && interval.mean <= interval.high + 1e-12);
        const sp::ConditionAggregate& none = evaluation.train[2];
        QCOMPARE(none.condition, sp::Condition::NoContext);
        QVERIFY(none.kl.low > 0); // no context is measurably worse than the teacher
        const sp::ConditionAggregate& sigma = evaluation.train[1];
        QVERIFY(sigma.kl.mean < none.kl.mean); // trained σ beats no context on its training queries
    }

    // First-k / last-k / pruned hard prompts use exactly k context tokens: with k = |c| all three
    // are the full context.
    void hardPromptBaselines()
    {
        sp::CompressionTask task = makeTask();
        sp::TrainConfig config = fastConfig();
        config.k = task.contextTokenCount();
        const sp::Evaluation evaluation = task.evaluateBaselines(config);
        for (const sp::QueryEvaluation& query : evaluation.queries) {
            QCOMPARE(int(query.outcomes.size()), 5);
            for (sp::Condition condition :
                 {sp::Condition::FirstK, sp::Condition::LastK, sp::Condition::PrunedHardPrompt})
                QVERIFY(outcomeOf(query, condition).kl < 1e-5);
        }
        config.k = 6;
        const sp::Evaluation small = task.evaluateBaselines(config);
        double firstKl = 0;
        for (const sp::QueryEvaluation& query : small.queries)
            firstKl += outcomeOf(query, sp::Condition::FirstK).kl;
        QVERIFY(firstKl > 0.01);
        QVERIFY_THROWS_EXCEPTION(sp::Error, task.evaluate(sp::SoftPrompt{}, config));
    }

    void teacherContinuationsMatchFullContext()
    {
        sp::CompressionTask task = makeTask();
        sp::TrainConfig config = fastConfig();
        config.continuationLength = 6;
        const std::vector<std::string> continuations = task.teacherContinuations(6);
        const sp::Evaluation evaluation = task.evaluateBaselines(config);
        QCOMPARE(continuations.size(), evaluation.queries.size());
        for (std::size_t i = 0; i < continuations.size(); ++i)
            QCOMPARE(continuations[i],
                     outcomeOf(evaluation.queries[i], sp::Condition::FullContext).prediction);
    }

    // A second run on the same model, context, queries and settings computes no teacher.
    void teacherCacheHit()
    {
        sp::engine::TeacherCache& cache = sp::engine::TeacherCache::instance();
        cache.clear();
        sp::TrainConfig config = fastConfig();
        config.steps = 5;
        sp::TrainControl control;
        sp::CompressionTask first = makeTask();
        first.train(config, {}, control);
        const auto afterFirst = cache.stats();
        QCOMPARE(afterFirst.recordMisses, std::int64_t(12));
        QCOMPARE(afterFirst.recordHits, std::int64_t(0));
        QCOMPARE(afterFirst.contextMisses, std::int64_t(1));

        sp::CompressionTask second = makeTask(); // a new task object on the same data
        second.train(config, {}, control);
        const auto afterSecond = cache.stats();
        QCOMPARE(afterSecond.recordMisses, std::int64_t(12));
        QCOMPARE(afterSecond.recordHits, std::int64_t(12));
        QCOMPARE(afterSecond.contextMisses, std::int64_t(1));

        config.temperature = 2.0; // other settings → other records, same context cache
        second.train(config, {}, control);
        QCOMPARE(cache.stats().recordMisses, std::int64_t(24));
        QCOMPARE(cache.stats().contextMisses, std::int64_t(1));
        sp::CompressionTask otherContext = makeTask(tinyModel(), tinyContext() + " More.");
        otherContext.train(config, {}, control);
        QCOMPARE(cache.stats().contextMisses, std::int64_t(2));
        QCOMPARE(cache.stats().recordMisses, std::int64_t(36));
    }

    void validation_data()
    {
        QTest::addColumn<QString>("context");
        QTest::addColumn<int>("queries");
        QTest::addColumn<QString>("setting");
        QTest::addColumn<QString>("mention");
        QTest::newRow("empty context") << "" << 4 << ""
                                       << "context is empty";
        QTest::newRow("blank context") << " \n " << 4 << ""
                                       << "context is empty";
        QTest::newRow("no queries") << "ctx ctx ctx ctx ctx" << 0 << ""
                                    << "no queries";
        QTest::newRow("k zero") << "ctx ctx ctx ctx" << 4 << "k=0"
                                << "k must be at least 1";
        QTest::newRow("k too large") << "short" << 4 << "k=8"
                                     << "more than the context's 5 tokens";
        QTest::newRow("steps") << "ctx ctx ctx ctx" << 4 << "steps=0"
                               << "steps";
        QTest::newRow("lr") << "ctx ctx ctx ctx" << 4 << "lr=0"
                            << "learning rate";
        QTest::newRow("lr nan") << "ctx ctx ctx ctx" << 4 << "lr=nan"
                                << "learning rate";
        QTest::newRow("temperature") << "ctx ctx ctx ctx" << 4 << "tau=0"
                                     << "temperature";
        QTest::newRow("device") << "ctx ctx ctx ctx" << 4 << "device=cuda"
                                << "loaded on cpu";
        QTest::newRow("unknown device") << "ctx ctx ctx ctx" << 4 << "device=tpu"
                                        << "unknown device";
        QTest::newRow("optimizer") << "ctx ctx ctx ctx" << 4 << "optimizer=sgd"
                                   << "unknown optimizer";
        QTest::newRow("over-long context") << QString(200, 'x') << 4 << ""
                                           << "context (200 tokens)";
        QTest::newRow("over-long continuation") << QString(140, 'x') << 4 << "L=30"
                                                << "continuation (30)";
    }
    void validation()
    {
        QFETCH(QString, context);
        QFETCH(int, queries);
        QFETCH(QString, setting);
        QFETCH(QString, mention);
        sp::CompressionTask task = makeTask(tinyModel(), context.toStdString(), tinyQueries(queries));
        sp::TrainConfig config = fastConfig();
        const QStringList parts = setting.split('=');
        if (parts[0] == "k")
            config.k = parts[1].toInt();
        else if (parts[0] == "steps")
            config.steps = parts[1].toInt();
        else if (parts[0] == "lr")
            config.learningRate = parts[1] == "nan" ? NAN : parts[1].toDouble();
        else if (parts[0] == "tau")
            config.temperature = parts[1].toDouble();
        else if (parts[0] == "device")
            config.device = parts[1].toStdString();
        else if (parts[0] == "optimizer")
            config.optimizer = parts[1].toStdString();
        else if (parts[0] == "L")
            config.continuationLength = parts[1].toInt();
        for (int attempt = 0; attempt < 2; ++attempt) {
            try {
                if (attempt == 0)
                    task.validate(config);
                else {
                    sp::TrainControl control;
                    task.train(config, {}, control); // train validates too
                }
                QFAIL("expected an sp::Error");
            } catch (const sp::Error& error) {
                QVERIFY2(QString::fromUtf8(error.what()).contains(mention), error.what());
            }
        }
    }

    void initialisations()
    {
        const sp::engine::EngineModel model = tinyModel();
        auto impl = sp::engine::makeTaskImpl(model, tinyContext(), tinyQueries());
        const at::Tensor embeddings = model.lm->embeddingMatrix(); // [V, d]
        const std::vector<std::int32_t> contextIds = model.encode(tinyContext());
        sp::TrainConfig config = fastConfig();
        config.k = 5;

        config.init = sp::InitKind::Text;              // default text: the context itself, truncated to k
        at::Tensor sigma = impl->initialSigma(config); // [k, d]
        QCOMPARE(sigma.sizes().vec(), (std::vector<std::int64_t>{5, 32}));
        for (int i = 0; i < 5; ++i)
            QVERIFY(at::equal(sigma[i], embeddings[contextIds[std::size_t(i)]]));
        config.initText = "ab"; // repeated to k
        sigma = impl->initialSigma(config);
        QVERIFY(at::equal(sigma[0], embeddings['a']) && at::equal(sigma[2], embeddings['a']) &&
                at::equal(sigma[3], embeddings['b']));

        config.init = sp::InitKind::ChunkMeans; // mean embedding of k equal chunks of the context
        sigma = impl->initialSigma(config);
        const std::int64_t n = std::int64_t(contextIds.size());
        for (std::int64_t i = 0; i < 5; ++i) {
            at::Tensor sum = at::zeros({32});
            for (std::int64_t t = i * n / 5; t < (i + 1) * n / 5; ++t)
                sum += embeddings[contextIds[std::size_t(t)]];
            QVERIFY(at::allclose(sigma[i], sum / double((i + 1) * n / 5 - i * n / 5), 1e-5, 1e-6));
        }

        config.init = sp::InitKind::Random; // random directions at the typical embedding norm
        sigma = impl->initialSigma(config);
        const double typical = embeddings.norm(2, 1).mean().item<double>();
        QVERIFY(at::allclose(sigma.norm(2, 1), at::full({5}, typical), 1e-4, 1e-5));
        QVERIFY(!at::equal(sigma, impl->initialSigma([&] {
            sp::TrainConfig other = config;
            other.seed += 1;
            return other;
        }())));

        config.init = sp::InitKind::Vocabulary; // rows of the embedding matrix, never special tokens
        sigma = impl->initialSigma(config);
        for (std::int64_t i = 0; i < 5; ++i) {
            const at::Tensor distances = (embeddings - sigma[i]).abs().sum(1); // [V]
            const std::int64_t id = distances.argmin().item<std::int64_t>();
            QCOMPARE(distances[id].item<float>(), 0.0f);
            QVERIFY(id < 256);
        }
    }

    // σ lives where embed() puts tokens. Gemma 3 scales its embedding rows by √d there, so a random
    // σ gets the norm of the scaled rows (the raw rows' norm made it √d times too short).
    void randomInitHasTheNormOfEmbeddedTokens_data()
    {
        QTest::addColumn<QString>("modelType");
        QTest::addColumn<double>("embedScale");
        QTest::newRow("llama: the rows as stored") << "llama" << 1.0;
        QTest::newRow("gemma3_text: the rows times sqrt(d)") << "gemma3_text" << std::sqrt(32.0);
    }
    void randomInitHasTheNormOfEmbeddedTokens()
    {
        QFETCH(QString, modelType);
        QFETCH(double, embedScale);
        // ModelShape: vocabulary, hidden, intermediate, layers, heads, key/value heads, head dim, positions.
        sp::ModelConfig shape =
            sp::shapedModelConfig(modelType.toStdString(), {258, 32, 64, 2, 4, 2, 8, 160});
        shape.bosTokenId = kBos;
        shape.eosTokenIds = {kEos};
        sp::model::RandomInit init;
        init.weightStd = 0.25;
        sp::engine::EngineModel model;
        model.lm = sp::model::CausalLM::createRandom(shape, 7, at::kCPU, at::kFloat, init);
        sp::engine::useByteLevelCodec(model);
        model.prefixIds = {kBos};
        model.stopIds = {kEos};
        model.identity = "test-random-" + modelType.toStdString();

        const at::Tensor allIds = at::arange(258, at::kLong).unsqueeze(0);                   // [1, V]
        const double embedded = model.lm->embed(allIds)[0].norm(2, 1).mean().item<double>(); // as σ's rows
        const double stored = model.lm->embeddingMatrix().norm(2, 1).mean().item<double>();
        QVERIFY2(std::abs(embedded / stored - embedScale) <= 1e-4 * embedScale,
                 qPrintable(QString::number(embedded / stored)));

        auto impl = sp::engine::makeTaskImpl(model, tinyContext(), tinyQueries());
        sp::TrainConfig config = fastConfig();
        config.k = 5;
        config.init = sp::InitKind::Random;
        const at::Tensor sigma = impl->initialSigma(config); // [k, d]
        QVERIFY2(at::allclose(sigma.norm(2, 1), at::full({5}, embedded), 1e-4, 1e-5),
                 qPrintable(QString("row norms %1, embedded tokens %2")
                                .arg(sigma.norm(2, 1).mean().item<double>())
                                .arg(embedded)));
    }

    void heldoutSplit()
    {
        sp::CompressionTask task = makeTask();
        sp::TrainConfig config = fastConfig();
        const std::vector<bool> mask = task.heldoutMask(config);
        QCOMPARE(int(std::count(mask.begin(), mask.end(), true)), 2);
        QVERIFY(mask == task.heldoutMask(config));
        config.heldoutFraction = 0.5;
        const std::vector<bool> half = task.heldoutMask(config);
        QCOMPARE(int(std::count(half.begin(), half.end(), true)), 6);
        config.heldoutFraction = 0.0;
        const std::vector<bool> none = task.heldoutMask(config);
        QCOMPARE(int(std::count(none.begin(), none.end(), true)), 0);

        std::vector<sp::Query> queries = tinyQueries(5);
        queries[1].heldOut = queries[4].heldOut = true; // marked queries win over the fraction
        sp::CompressionTask marked = makeTask(tinyModel(), tinyContext(), queries);
        QVERIFY(marked.heldoutMask(fastConfig()) == (std::vector<bool>{false, true, false, false, true}));
    }

    void sweep()
    {
        sp::CompressionTask task = makeTask();
        sp::TrainConfig config = fastConfig();
        config.steps = 20;
        sp::TrainControl control;
        int reports = 0;
        sp::TrainCallbacks callbacks;
        callbacks.onStep = [&](const sp::StepReport&) { ++reports; };
        const std::vector<sp::SweepPoint> points =
            sp::runCompressionSweep(task, config, {1, 4}, callbacks, control);
        QCOMPARE(int(points.size()), 2);
        QCOMPARE(reports, 40);
        for (const sp::SweepPoint& point : points) {
            QCOMPARE(point.result.status, sp::RunStatus::Finished);
            QCOMPARE(point.result.sigma.k, point.k);
            QCOMPARE(point.compressionRatio, double(task.contextTokenCount()) / point.k);
            QCOMPARE(point.heldoutSigma.condition, sp::Condition::SoftPrompt);
            QVERIFY(point.heldoutSigma.s.mean > 0);
        }
        // Every k is validated before anything trains.
        QVERIFY_THROWS_EXCEPTION(sp::Error,
                                 sp::runCompressionSweep(task, config, {2, 1000}, callbacks, control));
        QCOMPARE(reports, 40);
    }
};

QTEST_GUILESS_MAIN(TestEngineEval)
#include "test_engine_eval.moc"
