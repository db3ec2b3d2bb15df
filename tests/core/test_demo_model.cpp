// The demo model's training pieces (the optimiser as the pretrainer sets it up, answer batches), a
// tiny pretraining run that must be reproducible from its seed, and the shipped model: it loads
// through the normal loader and answers from its context.
#ifndef Q_MOC_RUN // moc needs none of these; following them into torch took it ~10 s a test
#include "demo/demo_batches.h"
#include "demo/demo_step_loss.h"
#include "demo/demo_vocabulary.h"
#include "model/causal_lm.h"
#include "model/loaded_model.h"
#include "optim/adam.h"
#include "softprompt/demo_corpus.h"
#include "softprompt/demo_tokenizer.h"
#include "softprompt/demo_training.h"
#include "softprompt/error.h"
#include "softprompt/hash.h"
#include "softprompt/model_handle.h"
#include "softprompt/paths.h"
#include "softprompt/tokenizer.h"
#include "test_model_support.h"
#endif

#include <QTemporaryDir>
#include <QtTest>

#include <map>
#include <set>

#include <cmath>
#include <filesystem>

namespace fs = std::filesystem;
using namespace sp::demo;

namespace {

bool shippedModelPresent()
{
    try {
        return fs::exists(fs::path(sp::demoModelDirectory()) / "model.safetensors");
    } catch (const sp::Error&) {
        return false;
    }
}

PretrainOptions tinyPretrainOptions(const std::string& outDir)
{
    PretrainOptions options;
    options.outDir = outDir;
    options.seed = 5;
    options.steps = 3;
    options.threads = 1;
    options.tokenizerSampleContexts = 10;
    options.vocabSize = 1536; // room for every reply word as one token
    options.hiddenSize = 16;
    options.layers = 1;
    options.heads = 2;
    options.intermediateSize = 32;
    options.maxPositions = 1024;
    options.queriesPerContext = 3;
    options.curriculumStartMaxTokens = 60;
    options.minContextTokens = 80;
    options.maxContextTokens = 150;
    options.warmupSteps = 1;
    options.evalEvery = 0;
    return options;
}

// A fine-tune of `baseDir` into `outDir` that trains nothing: one step at learning rate 0, so the saved
// weights are the starting ones (what --init-from and its options made of the base).
PretrainOptions startingWeightsOptions(const std::string& baseDir, const std::string& outDir)
{
    PretrainOptions options = tinyPretrainOptions(outDir);
    options.initFrom = baseDir;
    options.steps = 1;
    options.learningRate = 0.0;
    return options;
}

// The embedding rows [n, d] of one fact's values, from a model folder that pretrain-demo wrote.
at::Tensor valueEmbeddings(const std::string& folder, std::string_view attribute)
{
    const sp::Tokenizer tokenizer = sp::Tokenizer::fromFile((fs::path(folder) / "tokenizer.json").string());
    const auto lm = sp::model::CausalLM::loadFolder(folder, at::kCPU, at::kFloat);
    at::Tensor embedding; // [V, d]
    for (const auto& [name, tensor] : lm->namedParameters())
        if (name == "model.embed_tokens.weight")
            embedding = tensor;
    std::vector<std::int64_t> ids;
    for (std::string_view word : vocabulary::valuesOf(attribute))
        ids.push_back(tokenizer.encode(" " + std::string(word)).front());
    return embedding.index_select(0, at::tensor(ids, at::kLong)).clone(); // [n, d]
}

} // namespace

class TestDemoModel : public QObject {
    Q_OBJECT
private Q_SLOTS:
    // The optimiser as the pretrainer uses it (optim/adam.h): several parameters at once, decoupled
    // weight decay on matrices only, never on norms or biases.
    void adamwDecaysMatricesOnly()
    {
        const at::Tensor matrix = at::tensor({1.0, -2.0, 0.5}, at::kFloat).reshape({1, 3});
        const at::Tensor vector = at::tensor({1.0, -2.0, 0.5}, at::kFloat);
        const at::Tensor gradient = at::tensor({0.1, 0.2, -0.3}, at::kFloat);
        sp::optim::AdamSettings settings;
        settings.beta2 = 0.95;
        settings.weightDecay = 0.1;
        sp::optim::Adam optimizer({matrix, vector}, settings);
        const double lr = 0.01;
        for (int step = 1; step <= 2; ++step) {
            const at::Tensor matrixBefore = matrix.clone(), vectorBefore = vector.clone();
            optimizer.step({matrix, vector}, {gradient.reshape({1, 3}).clone(), gradient.clone()}, lr);
            // With a constant gradient g, m̂ = g and v̂ = g² after bias correction, so the Adam step is
            // lr * g / (|g| + eps) = lr * sign(g) (up to eps), after decoupled decay on the matrix only.
            QVERIFY(at::allclose(matrix, matrixBefore * (1.0 - lr * settings.weightDecay) -
                                             lr * gradient.sign().reshape({1, 3}), 1e-5, 1e-6));
            QVERIFY(at::allclose(vector, vectorBefore - lr * gradient.sign(), 1e-5, 1e-6));
        }
        QCOMPARE(optimizer.steps(), std::int64_t(2));
    }

    void clippingScalesToTheGlobalNorm()
    {
        const at::Tensor a = at::tensor({3.0, 0.0}, at::kFloat);
        const at::Tensor b = at::tensor({4.0}, at::kFloat);
        const at::Tensor norm = sp::optim::clipGradientNorm({a, at::Tensor(), b}, 1.0); // no gradient for one
        QCOMPARE(norm.item<double>(), 5.0);
        QVERIFY(std::abs(a[0].item<double>() - 0.6) < 1e-5);
        QVERIFY(std::abs(b[0].item<double>() - 0.8) < 1e-5);
    }

    void answerBatchLayout()
    {
        // Two queries of different lengths: the logit at the last query token predicts the first
        // answer token, and padding is never scored.
        std::vector<TokenizedQuery> queries(2);
        queries[0].query = {10, 11, 12};
        queries[0].answer = {20, 21, 99};
        queries[1].query = {13};
        queries[1].answer = {22, 99};
        const AnswerBatch batch = makeAnswerBatch(queries, 99);
        QCOMPARE(batch.ids.sizes().vec(), (std::vector<std::int64_t>{2, 6}));
        QVERIFY(at::equal(batch.ids[0], at::tensor({10, 11, 12, 20, 21, 99}, at::kLong)));
        QVERIFY(at::equal(batch.ids[1], at::tensor({13, 22, 99, 99, 99, 99}, at::kLong)));
        QVERIFY(at::equal(batch.logitIndices[0], at::tensor({2, 3, 4}, at::kLong)));
        QVERIFY(at::equal(batch.targets[0], at::tensor({20, 21, 99}, at::kLong)));
        QVERIFY(at::equal(batch.targets[1], at::tensor({22, 99, -100}, at::kLong)));
        QCOMPARE(batch.logitIndices[1][0].item<std::int64_t>(), std::int64_t(0));
        QCOMPARE(batch.logitIndices[1][1].item<std::int64_t>(), std::int64_t(1));
    }

    void tinyPretrainingIsReproducible()
    {
        QTemporaryDir first;
        QTemporaryDir second;
        int reports = 0;
        const PretrainResult result = pretrainDemoModel(tinyPretrainOptions(first.path().toStdString()),
                                                        [&](const PretrainProgress& progress) {
                                                            ++reports;
                                                            QVERIFY(progress.step >= 1 && progress.step <= 3);
                                                            QVERIFY(std::isfinite(progress.answerLoss));
                                                        });
        pretrainDemoModel(tinyPretrainOptions(second.path().toStdString()));
        QCOMPARE(result.steps, 3);
        QVERIFY(reports >= 1);
        for (const char* file : {"config.json", "model.safetensors", "tokenizer.json"}) {
            const std::string a = (fs::path(first.path().toStdString()) / file).string();
            const std::string b = (fs::path(second.path().toStdString()) / file).string();
            QVERIFY2(fs::exists(a), file);
            QCOMPARE(sp::sha256File(a), sp::sha256File(b));
        }
        // The folder is an ordinary Hugging Face model folder: the normal loader reads it.
        const sp::ModelHandle model = sp::ModelHandle::load(first.path().toStdString());
        QCOMPARE(model.summary().modelType, std::string("llama"));
        QCOMPARE(model.summary().hiddenSize, std::int64_t(16));
        QCOMPARE(model.tokenizer().vocabSize(), std::int32_t(model.summary().vocabSize));
        // A different seed gives different weights.
        QTemporaryDir third;
        PretrainOptions other = tinyPretrainOptions(third.path().toStdString());
        other.seed = 6;
        pretrainDemoModel(other);
        QVERIFY(sp::sha256File((fs::path(first.path().toStdString()) / "model.safetensors").string()) !=
                sp::sha256File((fs::path(third.path().toStdString()) / "model.safetensors").string()));
    }

    // --init-from copies a model's weights: one step at learning rate 0 leaves them exactly as they
    // were. A model made with another seed (another tokenizer) is refused.
    void fineTuningStartsFromTheGivenWeights()
    {
        QTemporaryDir base;
        QTemporaryDir tuned;
        pretrainDemoModel(tinyPretrainOptions(base.path().toStdString()));
        PretrainOptions options =
            startingWeightsOptions(base.path().toStdString(), tuned.path().toStdString());
        options.queryAttributes = {"code", "manager"};
        pretrainDemoModel(options);
        auto weights = [](const QTemporaryDir& folder) {
            return sp::sha256File((fs::path(folder.path().toStdString()) / "model.safetensors").string());
        };
        QCOMPARE(weights(tuned), weights(base));
        options.seed = 6;
        QVERIFY_THROWS_EXCEPTION(sp::Error, pretrainDemoModel(options));
        options.seed = 5;
        options.queryAttributes = {"postcode"};
        QVERIFY_THROWS_EXCEPTION(sp::Error, pretrainDemoModel(options));
    }

    // The values of one fact start with a shared class vector: within a class their embeddings
    // point the same way, across classes they do not. (A name mismatch once made this a silent
    // no-op in every shipped model.) At learning rate 0 the saved weights are the starting ones.
    void structuredEmbeddingsShareAClassVector()
    {
        auto meanCosines = [](bool structured) {
            QTemporaryDir folder;
            PretrainOptions options = tinyPretrainOptions(folder.path().toStdString());
            options.steps = 1;
            options.learningRate = 0.0;
            options.structuredEmbeddings = structured;
            options.wordClassScale = 0.5;
            pretrainDemoModel(options);
            auto rows = [&](std::string_view attribute) {
                const at::Tensor picked = valueEmbeddings(folder.path().toStdString(), attribute); // [n, d]
                return picked / picked.norm(2, 1, true);
            };
            const at::Tensor mascots = rows("mascot"); // [30, d]
            const at::Tensor codes = rows("code");     // [48, d]
            const double n = double(mascots.size(0));
            const double within = (mascots.matmul(mascots.t()).sum().item<double>() - n) / (n * (n - 1));
            const double across = mascots.matmul(codes.t()).mean().item<double>();
            return std::make_pair(within, across);
        };
        const auto [structuredWithin, structuredAcross] = meanCosines(true);
        const auto [plainWithin, plainAcross] = meanCosines(false);
        QVERIFY2(structuredWithin > 0.8, qPrintable(QString::number(structuredWithin)));
        QVERIFY2(std::abs(structuredAcross) < 0.5, qPrintable(QString::number(structuredAcross)));
        QVERIFY2(std::abs(plainWithin) < 0.2, qPrintable(QString::number(plainWithin)));
    }

    // --spread-values scales each value's distance from its class mean (at learning rate 0 the saved
    // weights are the spread starting ones): the named fact's rows move, the class mean and the other
    // facts stay. Float32, relative tolerance 1e-5.
    void spreadValuesMovesOneFactsValuesApart_data()
    {
        QTest::addColumn<double>("factor");
        QTest::newRow("three times apart") << 3.0;
        QTest::newRow("half as far") << 0.5;
    }
    void spreadValuesMovesOneFactsValuesApart()
    {
        QFETCH(double, factor);
        QTemporaryDir base;
        QTemporaryDir spread;
        pretrainDemoModel(tinyPretrainOptions(base.path().toStdString()));
        PretrainOptions options =
            startingWeightsOptions(base.path().toStdString(), spread.path().toStdString());
        options.spreadAttributes = {"code"};
        options.spreadFactor = factor;
        pretrainDemoModel(options);
        const at::Tensor before = valueEmbeddings(base.path().toStdString(), "code");  // [48, d]
        const at::Tensor after = valueEmbeddings(spread.path().toStdString(), "code"); // [48, d]
        const at::Tensor meanBefore = before.mean(0, true);                            // [1, d]
        const at::Tensor expected = meanBefore + (before - meanBefore) * factor;       // [48, d]
        const double scale = expected.abs().max().item<double>();
        const double error = (after - expected).abs().max().item<double>();
        QVERIFY2(error < 1e-5 * scale, qPrintable(QString::number(error)));
        QVERIFY((after.mean(0, true) - meanBefore).abs().max().item<double>() < 1e-5 * scale);
        const double spreadRatio =
            (after - after.mean(0, true)).norm().item<double>() / (before - meanBefore).norm().item<double>();
        QVERIFY2(std::abs(spreadRatio - factor) < 1e-4 * factor, qPrintable(QString::number(spreadRatio)));
        QVERIFY(valueEmbeddings(spread.path().toStdString(), "mascot")
                    .equal(valueEmbeddings(base.path().toStdString(), "mascot")));

        // Only a trained model can be spread, by a positive factor, for a fact that exists.
        options.spreadFactor = 0.0;
        QVERIFY_THROWS_EXCEPTION(sp::Error, pretrainDemoModel(options));
        options.spreadFactor = factor;
        options.spreadAttributes = {"postcode"};
        QVERIFY_THROWS_EXCEPTION(sp::Error, pretrainDemoModel(options));
        options.spreadAttributes = {"code"};
        options.initFrom.clear();
        QVERIFY_THROWS_EXCEPTION(sp::Error, pretrainDemoModel(options));
    }

    // With worker threads drawing the data, each step has a stream of its own: the result depends on
    // the seed, not on how many threads drew it (nor on which finished first).
    void dataThreadsDoNotChangeTheResult()
    {
        QTemporaryDir one;
        QTemporaryDir three;
        QTemporaryDir sequential;
        PretrainOptions options = tinyPretrainOptions(one.path().toStdString());
        options.steps = 4;
        options.dataThreads = 1;
        const PretrainResult first = pretrainDemoModel(options);
        options.outDir = three.path().toStdString();
        options.dataThreads = 3;
        const PretrainResult second = pretrainDemoModel(options);
        options.outDir = sequential.path().toStdString();
        options.dataThreads = 0;
        pretrainDemoModel(options);
        QCOMPARE(first.steps, 4);
        QCOMPARE(second.finalAnswerLoss, first.finalAnswerLoss);
        auto weights = [](const QTemporaryDir& folder) {
            return sp::sha256File((fs::path(folder.path().toStdString()) / "model.safetensors").string());
        };
        QCOMPARE(weights(three), weights(one));
        // The per-step streams are other data than the one stream of the sequential mode.
        QVERIFY(weights(sequential) != weights(one));
    }

    // The padded all-contexts batch (what pretrain-demo uses on CUDA) must compute the same losses
    // and gradients as one context at a time: contexts, queries and scored positions of different
    // lengths, so that every kind of padding is exercised. Float32, tolerance 2e-5 (relative to the
    // largest gradient for the gradients).
    void batchedStepMatchesPerContext()
    {
        // Llama with grouped-query attention (4 query heads, 2 key/value heads), vocabulary 101.
        const std::shared_ptr<sp::model::CausalLM> lm =
            sp::model::CausalLM::createRandom(modeltest::tinyLlama(), 11);
        lm->setTrainable(true);
        std::vector<at::Tensor> parameters;
        std::set<const void*> seen;
        for (const auto& [name, tensor] : lm->namedParameters())
            if (seen.insert(tensor.unsafeGetTensorImpl()).second)
                parameters.push_back(tensor);

        std::uint64_t state = 3;
        auto draw = [&state](std::int64_t bound) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            return std::int64_t((state >> 33) % std::uint64_t(bound));
        };
        std::vector<PreparedContext> contexts;
        for (std::int64_t length : {9, 23, 5}) {
            PreparedContext context;
            for (std::int64_t i = 0; i < length; ++i)
                context.ids.push_back(3 + draw(55));
            for (std::int64_t p = 0; p + 1 < length; p += 1 + draw(3))
                context.scoredPositions.push_back(p);
            for (int q = 0; q < 2 + int(length % 2); ++q) {
                TokenizedQuery query;
                for (std::int64_t i = 0; i < 2 + draw(4); ++i)
                    query.query.push_back(3 + draw(55));
                for (std::int64_t i = 0; i < 1 + draw(3); ++i)
                    query.answer.push_back(3 + draw(55));
                query.answer.push_back(2);
                context.queries.push_back(query);
            }
            contexts.push_back(context);
        }

        auto run = [&](bool batched) {
            for (at::Tensor& parameter : parameters)
                if (parameter.grad().defined())
                    parameter.grad().zero_();
            const at::Tensor losses = backwardStepLosses(*lm, contexts, 0.3, 2, batched); // [2, C]
            std::vector<at::Tensor> gradients;
            for (const at::Tensor& parameter : parameters)
                gradients.push_back(parameter.grad().clone());
            return std::make_pair(losses, gradients);
        };
        const auto [perContextLosses, perContextGradients] = run(false);
        const auto [batchedLosses, batchedGradients] = run(true);
        QCOMPARE(perContextLosses.sizes().vec(), (std::vector<std::int64_t>{2, 3}));
        QCOMPARE(batchedLosses.sizes().vec(), (std::vector<std::int64_t>{2, 3}));
        QVERIFY(perContextLosses.min().item<double>() > 1.0); // untrained: near log(101) = 4.6
        const double lossError = (perContextLosses - batchedLosses).abs().max().item<double>();
        QVERIFY2(lossError < 2e-5, qPrintable(QStringLiteral("loss difference %1").arg(lossError)));
        double largest = 0.0;
        double gradientError = 0.0;
        for (std::size_t i = 0; i < parameters.size(); ++i) {
            largest = std::max(largest, perContextGradients[i].abs().max().item<double>());
            gradientError = std::max(
                gradientError, (perContextGradients[i] - batchedGradients[i]).abs().max().item<double>());
        }
        QVERIFY(largest > 1e-3);
        QVERIFY2(gradientError < 2e-5 * largest,
                 qPrintable(QStringLiteral("gradient difference %1 of %2").arg(gradientError).arg(largest)));
    }

    void badOptionsAreErrors()
    {
        QTemporaryDir folder;
        PretrainOptions options = tinyPretrainOptions(folder.path().toStdString());
        options.hiddenSize = 15; // not divisible by 2 heads
        QVERIFY_THROWS_EXCEPTION(sp::Error, pretrainDemoModel(options));
        options = tinyPretrainOptions("");
        QVERIFY_THROWS_EXCEPTION(sp::Error, pretrainDemoModel(options));
        options = tinyPretrainOptions(folder.path().toStdString());
        options.steps = 0;
        options.minutes = 0;
        QVERIFY_THROWS_EXCEPTION(sp::Error, pretrainDemoModel(options));
    }

    void shippedModelAnswersFromItsContext()
    {
        if (!shippedModelPresent())
            QSKIP("resources/demo-model is not there yet (softprompt pretrain-demo makes it)");
        const sp::ModelHandle model = sp::ModelHandle::load("demo");
        QCOMPARE(model.summary().modelType, std::string("llama"));
        QVERIFY(model.tokenizer().tokenToId(kDemoEndOfText).has_value());
        // Fresh held-out contexts: the model follows their reply rules and finds facts in them, and
        // without the context it cannot. Its measured exact match on 500 contexts is in the README;
        // the shipped model answers all of these 24 (and all 500 of eval-demo), so the exact-match bound
        // of 90% leaves room for a retrained model's sampling noise; the previous model (71%, 17 of
        // these 24) fails it.
        DemoEvalOptions options;
        options.examples = 24;
        options.seed = 99;
        options.keepExamples = 24;
        const DemoEvalResult result = evaluateDemoModel(options);
        QCOMPARE(result.examples, 24);
        // Each echoed example names the sentence that states its fact, for debugging a model.
        QCOMPARE(int(result.samples.size()), 24);
        for (const DemoEvalExample& sample : result.samples) {
            const std::string value = sample.expected.substr(sample.expected.find("! ") + 2);
            QVERIFY2(sample.factSentence.find(value.substr(0, value.find('.'))) != std::string::npos,
                     sample.factSentence.c_str());
            QVERIFY(sample.factPosition > 0.0 && sample.factPosition < 1.0); // after the persona line
        }
        std::map<std::string, double> parts(result.tokenAccuracyByPart.begin(),
                                            result.tokenAccuracyByPart.end());
        QVERIFY2(parts["greeting"] >= 0.9, qPrintable(QString::number(parts["greeting"])));
        QVERIFY2(parts["closing"] >= 0.9, qPrintable(QString::number(parts["closing"])));
        QVERIFY2(result.withContext >= 0.9, qPrintable(QString::number(result.withContext)));
        QVERIFY2(result.withoutContext <= 0.05, qPrintable(QString::number(result.withoutContext)));
    }
};

QTEST_GUILESS_MAIN(TestDemoModel)
#include "test_demo_model.moc"
