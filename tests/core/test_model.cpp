// Invariants of the frozen causal LM on tiny random models built here: the KV cache equals a full
// recompute, padded batches equal unbatched runs, gradients reach inputs_embeds (and only them),
// tied and untied heads, window errors and greedy decoding.
#ifndef Q_MOC_RUN // moc needs none of these; following them into torch took it ~10 s a test
#include "model/causal_lm.h"
#include "model/generation.h"
#include "softprompt/error.h"
#include "test_model_support.h"

#include <ATen/Context.h>
#endif
#include <QtTest>

#include <set>
#include <thread>

using namespace modeltest;
using sp::model::CausalLM;
using sp::model::ForwardInput;
using sp::model::KVCache;

namespace {

void addArchitectureRows()
{
    QTest::addColumn<QString>("architecture");
    for (const char* name : allArchitectures)
        QTest::newRow(name) << QString::fromLatin1(name);
}

// Ids that avoid `excluded`, so that its embedding row never enters the input.
at::Tensor idsWithout(std::int64_t batch, std::int64_t length, std::int64_t vocab, std::int64_t excluded)
{
    at::Tensor ids = randomIds(batch, length, vocab, 3); // [B, T]
    return ids.masked_fill(ids == excluded, (excluded + 1) % vocab);
}

// Runs rows of different lengths as one padded batch; returns logits [B, Tmax, V].
at::Tensor paddedForward(const CausalLM& model, const std::vector<at::Tensor>& rows, bool leftPadding,
                         const KVCache* past = nullptr)
{
    const std::int64_t batch = std::int64_t(rows.size());
    std::int64_t longest = 0;
    for (const at::Tensor& row : rows)
        longest = std::max(longest, row.size(0));
    const std::int64_t pastLength = past ? past->length() : 0;
    at::Tensor ids = at::zeros({batch, longest}, at::kLong);              // [B, T]
    at::Tensor positions = at::full({batch, longest}, 999999, at::kLong); // [B, T], padding: garbage
    at::Tensor mask = at::ones({batch, pastLength + longest}, at::kBool); // [B, P + T]
    for (std::int64_t r = 0; r < batch; ++r) {
        const std::int64_t length = rows[std::size_t(r)].size(0);
        const std::int64_t start = leftPadding ? longest - length : 0;
        ids[r].narrow(0, start, length).copy_(rows[std::size_t(r)]);
        positions[r].narrow(0, start, length).copy_(at::arange(pastLength, pastLength + length, at::kLong));
        mask[r].narrow(0, pastLength, longest).fill_(false);
        mask[r].narrow(0, pastLength + start, length).fill_(true);
    }
    ForwardInput input;
    input.inputsEmbeds = model.embed(ids);
    input.positions = positions;
    input.attentionMask = mask;
    input.past = past;
    return model.forward(input).logits;
}

} // namespace

class TestModel : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void kvCacheMatchesFullRecompute_data() { addArchitectureRows(); }
    void kvCacheMatchesFullRecompute()
    {
        QFETCH(QString, architecture);
        const auto model = randomModel(configNamed(architecture.toStdString()));
        at::NoGradGuard noGrad;
        const at::Tensor ids = randomIds(2, 12, model->config().vocabSize, 11); // [2, 12]
        const at::Tensor full = model->forwardIds(ids).logits;                  // [2, 12, V]
        QVERIFY2(maxAbs(full) > 0.5, "logits too small for the comparison to mean anything");

        const auto prefix = model->forwardIds(ids.narrow(1, 0, 5), nullptr, true);
        QCOMPARE(prefix.cache.length(), std::int64_t(5));
        QCOMPARE(
            prefix.cache.keys.front().sizes().vec(),
            (std::vector<std::int64_t>{2, model->config().numKeyValueHeads, 5, model->config().headDim}));
        double worst = maxAbsDiff(prefix.logits, full.narrow(1, 0, 5));
        const auto chunk = model->forwardIds(ids.narrow(1, 5, 3), &prefix.cache, true);
        worst = std::max(worst, maxAbsDiff(chunk.logits, full.narrow(1, 5, 3)));
        KVCache cache = chunk.cache;
        for (std::int64_t t = 8; t < 12; ++t) {
            auto step = model->forwardIds(ids.narrow(1, t, 1), &cache, true);
            worst = std::max(worst, maxAbsDiff(step.logits, full.narrow(1, t, 1)));
            cache = std::move(step.cache);
        }
        QCOMPARE(cache.length(), std::int64_t(12));
        qInfo("%s: max |incremental - full| = %.3g", qPrintable(architecture), worst);
        QVERIFY2(worst <= 1e-5, qPrintable(QString("max abs diff %1").arg(worst)));
    }

    void paddedBatchEqualsUnbatched_data() { addArchitectureRows(); }
    void paddedBatchEqualsUnbatched()
    {
        QFETCH(QString, architecture);
        const auto model = randomModel(configNamed(architecture.toStdString()));
        at::NoGradGuard noGrad;
        const std::int64_t vocab = model->config().vocabSize;
        const std::vector<at::Tensor> rows{randomIds(1, 7, vocab, 21)[0], randomIds(1, 3, vocab, 22)[0],
                                           randomIds(1, 5, vocab, 23)[0]};
        double worst = 0.0;
        for (const bool left : {true, false}) {
            const at::Tensor batched = paddedForward(*model, rows, left); // [3, 7, V]
            for (std::size_t r = 0; r < rows.size(); ++r) {
                const std::int64_t length = rows[r].size(0);
                const at::Tensor alone = model->forwardIds(rows[r].unsqueeze(0)).logits[0]; // [T, V]
                const std::int64_t start = left ? 7 - length : 0;
                worst = std::max(worst, maxAbsDiff(batched[std::int64_t(r)].narrow(0, start, length), alone));
            }
            QVERIFY(batched.isfinite().all().item<bool>()); // padded rows stay finite too
        }
        qInfo("%s: max |padded batch - unbatched| = %.3g", qPrintable(architecture), worst);
        QVERIFY2(worst <= 1e-5, qPrintable(QString("max abs diff %1").arg(worst)));
    }

    void sharedPrefixCacheServesPaddedContinuations_data() { addArchitectureRows(); }
    void sharedPrefixCacheServesPaddedContinuations()
    {
        QFETCH(QString, architecture);
        const auto model = randomModel(configNamed(architecture.toStdString()));
        at::NoGradGuard noGrad;
        const std::int64_t vocab = model->config().vocabSize;
        const at::Tensor prefixIds = randomIds(1, 9, vocab, 31); // [1, 9]
        const auto prefix = model->forwardIds(prefixIds, nullptr, true);
        const KVCache shared = prefix.cache.expandedTo(3);
        QCOMPARE(shared.keys.front().size(0), std::int64_t(3));
        // Expanded, not copied: the three rows read the prefix's own storage.
        QCOMPARE(shared.keys.front().data_ptr(), prefix.cache.keys.front().data_ptr());
        QCOMPARE(shared.keys.front().stride(0), std::int64_t(0));

        const std::vector<at::Tensor> queries{randomIds(1, 4, vocab, 32)[0], randomIds(1, 2, vocab, 33)[0],
                                              randomIds(1, 6, vocab, 34)[0]};
        const at::Tensor batched =
            paddedForward(*model, queries, /*leftPadding=*/false, &shared); // [3, 6, V]
        double worst = 0.0;
        for (std::size_t r = 0; r < queries.size(); ++r) {
            const std::int64_t length = queries[r].size(0);
            const at::Tensor whole = at::cat({prefixIds[0], queries[r]}).unsqueeze(0); // [1, 9 + T]
            const at::Tensor reference = model->forwardIds(whole).logits[0].narrow(0, 9, length); // [T, V]
            worst = std::max(worst, maxAbsDiff(batched[std::int64_t(r)].narrow(0, 0, length), reference));
        }
        qInfo("%s: max |shared prefix cache - full recompute| = %.3g", qPrintable(architecture), worst);
        QVERIFY2(worst <= 1e-5, qPrintable(QString("max abs diff %1").arg(worst)));
        // The prefix cache is read-only: still its own length after serving the batch.
        QCOMPARE(prefix.cache.length(), std::int64_t(9));
    }

    // Prefills longer than 256 tokens attend in blocks of query rows; shorter ones in one piece.
    void longPrefillBlocksMatchSinglePass_data()
    {
        QTest::addColumn<QString>("architecture");
        QTest::newRow("gpt2") << "gpt2";
        QTest::newRow("llama") << "llama";
    }
    void longPrefillBlocksMatchSinglePass()
    {
        QFETCH(QString, architecture);
        sp::ModelConfig config = configNamed(architecture.toStdString());
        config.maxPositionEmbeddings = 400;
        const auto model = randomModel(config);
        at::NoGradGuard noGrad;
        const at::Tensor ids = randomIds(2, 300, config.vocabSize, 71); // [2, 300]
        const at::Tensor blocked = model->forwardIds(ids).logits;       // [2, 300, V], in blocks
        const auto prefix = model->forwardIds(ids.narrow(1, 0, 170), nullptr, true);
        const at::Tensor rest = model->forwardIds(ids.narrow(1, 170, 130), &prefix.cache).logits;
        double worst = std::max(maxAbsDiff(blocked.narrow(1, 0, 170), prefix.logits),
                                maxAbsDiff(blocked.narrow(1, 170, 130), rest));
        // A left-padded long row in blocks equals the same row alone.
        const std::vector<at::Tensor> rows{ids[0], ids[1].narrow(0, 0, 280)};
        const at::Tensor padded = paddedForward(*model, rows, /*leftPadding=*/true); // [2, 300, V]
        worst = std::max(worst, maxAbsDiff(padded[1].narrow(0, 20, 280), blocked[1].narrow(0, 0, 280)));
        // float32 pieces summed in other block orders: the rounding grows with the logits' size, so
        // the bound is relative to the largest logit (1e-5 of it, and never below 1e-5 absolute).
        const double scale = std::max(1.0, blocked.abs().max().item<double>());
        qInfo("%s: max |blocked long prefill - single-pass pieces| = %.3g (max |logit| %.3g)",
              qPrintable(architecture), worst, scale);
        QVERIFY2(worst <= 1e-5 * scale, qPrintable(QString::number(worst)));
    }

    void gradientMatchesFiniteDifferences_data() { addArchitectureRows(); }
    void gradientMatchesFiniteDifferences()
    {
        QFETCH(QString, architecture);
        const auto model = randomModel(configNamed(architecture.toStdString()), 5, at::kDouble);
        const std::int64_t vocab = model->config().vocabSize;
        const at::Tensor ids = randomIds(2, 5, vocab, 41); // [2, 5]
        at::Tensor embeds;                                 // [2, 5, d] double
        {
            at::NoGradGuard noGrad;
            embeds = model->embed(ids).clone();
        }
        embeds.requires_grad_(true);
        at::Tensor mask = at::ones({2, 5}, at::kBool); // [2, 5]: row 1's last token is padding
        mask[1][4] = false;
        at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(42);
        at::Tensor weights = at::randn({2, 5, vocab}, generator, at::kDouble); // [2, 5, V]
        weights[1][4].zero_(); // the padded position's output does not count
        const auto loss = [&](const at::Tensor& inputs) {
            ForwardInput input;
            input.inputsEmbeds = inputs;
            input.positions = at::arange(5, at::kLong).unsqueeze(0).expand({2, 5});
            input.attentionMask = mask;
            const at::Tensor logits = model->forward(input).logits; // [2, 5, V]
            return (logits * weights).sum();
        };
        const at::Tensor value = loss(embeds);
        QCOMPARE(value.scalar_type(), at::kDouble);
        value.backward();
        const at::Tensor gradient = embeds.grad(); // [2, 5, d]
        QVERIFY(gradient.defined());
        QVERIFY(maxAbs(gradient) > 1e-3);
        // Nothing attends to a padded token, so its embedding has no influence at all.
        QCOMPARE(maxAbs(gradient[1][4]), 0.0);

        double worstRelative = 0.0;
        const std::int64_t coordinates[][3] = {{0, 0, 0}, {0, 2, 5},  {0, 4, 31},
                                               {1, 0, 7}, {1, 3, 12}, {1, 1, 30}};
        const double step = 1e-5;
        at::NoGradGuard noGrad;
        for (const auto& c : coordinates) {
            at::Tensor plus = embeds.detach().clone();
            at::Tensor minus = embeds.detach().clone();
            plus[c[0]][c[1]][c[2]] += step;
            minus[c[0]][c[1]][c[2]] -= step;
            const double numeric = (loss(plus).item<double>() - loss(minus).item<double>()) / (2 * step);
            const double analytic = gradient[c[0]][c[1]][c[2]].item<double>();
            worstRelative =
                std::max(worstRelative, std::abs(numeric - analytic) / std::max(1.0, std::abs(analytic)));
        }
        qInfo("%s: max relative |autograd - finite difference| = %.3g", qPrintable(architecture),
              worstRelative);
        QVERIFY2(worstRelative <= 1e-7, qPrintable(QString("relative error %1").arg(worstRelative)));
        for (const auto& [name, tensor] : model->namedParameters()) {
            QVERIFY2(!tensor.requires_grad(), name.c_str());
            QVERIFY2(!tensor.grad().defined(), name.c_str());
        }
    }

    void frozenByDefaultTrainableOnRequest()
    {
        for (const char* name : {"gpt2", "qwen2"}) {
            const auto model = randomModel(configNamed(name));
            const at::Tensor ids = randomIds(1, 6, model->config().vocabSize, 51);
            at::Tensor before;
            {
                at::NoGradGuard noGrad;
                before = model->forwardIds(ids).logits;
            }
            QVERIFY(!model->isTrainable());
            std::set<std::string> names;
            for (const auto& [parameterName, tensor] : model->namedParameters()) {
                QVERIFY(!tensor.requires_grad());
                QVERIFY2(names.insert(parameterName).second, parameterName.c_str());
            }
            // Pretraining path: every weight becomes a leaf that receives a gradient.
            model->setTrainable(true);
            const at::Tensor logits = model->forwardIds(ids).logits;
            QVERIFY(maxAbsDiff(logits.detach(), before) <= 1e-6);
            logits.logsumexp(-1).sum().backward();
            for (const auto& [parameterName, tensor] : model->namedParameters()) {
                QVERIFY2(tensor.is_leaf() && tensor.requires_grad(), parameterName.c_str());
                QVERIFY2(tensor.grad().defined() && maxAbs(tensor.grad()) > 0, parameterName.c_str());
            }
            // Back to the frozen, fused layout: same numbers, no gradients.
            model->setTrainable(false);
            at::NoGradGuard noGrad;
            QVERIFY(maxAbsDiff(model->forwardIds(ids).logits, before) <= 1e-6);
            for (const auto& [parameterName, tensor] : model->namedParameters())
                QVERIFY2(!tensor.requires_grad(), parameterName.c_str());
        }
    }

    void createRandomIsSeeded()
    {
        const auto first = CausalLM::createRandom(tinyLlama(), 123);
        const auto same = CausalLM::createRandom(tinyLlama(), 123);
        const auto other = CausalLM::createRandom(tinyLlama(), 124);
        const auto a = first->namedParameters();
        const auto b = same->namedParameters();
        const auto c = other->namedParameters();
        QCOMPARE(a.size(), b.size());
        for (std::size_t i = 0; i < a.size(); ++i)
            QVERIFY2(at::equal(a[i].second, b[i].second), a[i].first.c_str());
        QCOMPARE(a[0].first, std::string("model.embed_tokens.weight"));
        QVERIFY(!at::equal(a[0].second, c[0].second));
        // Default initialisation follows transformers: N(0, 0.02) matrices, unit norms.
        const double std = a[0].second.std().item<double>();
        QVERIFY2(std > 0.015 && std < 0.025, qPrintable(QString::number(std)));
        QCOMPARE(a[1].first, std::string("model.layers.0.input_layernorm.weight"));
        QVERIFY(at::equal(a[1].second, at::ones({32})));
    }

    void tiedHeadReadsTheEmbedding_data()
    {
        QTest::addColumn<QString>("architecture");
        QTest::newRow("gpt2") << "gpt2";
        QTest::newRow("qwen2 tied") << "qwen2";
        QTest::newRow("llama3 tied") << "llama3-rope";
    }
    void tiedHeadReadsTheEmbedding()
    {
        QFETCH(QString, architecture);
        const auto model = randomModel(configNamed(architecture.toStdString()));
        for (const auto& [name, tensor] : model->namedParameters())
            QVERIFY2(name != "lm_head.weight", "a tied model has no separate head");
        at::NoGradGuard noGrad;
        const at::Tensor ids = idsWithout(2, 6, model->config().vocabSize, 5);
        QVERIFY(maxAbs(model->forwardIds(ids).logits.select(-1, 5)) > 1e-3);
        model->embeddingMatrix()[5].zero_();
        QCOMPARE(maxAbs(model->forwardIds(ids).logits.select(-1, 5)), 0.0);
    }

    void untiedHeadIsSeparate()
    {
        const auto model = randomModel(tinyLlama());
        at::Tensor head;
        for (const auto& [name, tensor] : model->namedParameters())
            if (name == "lm_head.weight")
                head = tensor;
        QVERIFY(head.defined());
        QCOMPARE(head.sizes().vec(), (std::vector<std::int64_t>{101, 32}));
        at::NoGradGuard noGrad;
        const at::Tensor ids = idsWithout(2, 6, 101, 5);
        model->embeddingMatrix()[5].zero_();
        QVERIFY(maxAbs(model->forwardIds(ids).logits.select(-1, 5)) > 1e-3);
        head[5].zero_();
        QCOMPARE(maxAbs(model->forwardIds(ids).logits.select(-1, 5)), 0.0);
    }

    void embeddingsInputEqualsIds()
    {
        const auto model = randomModel(tinyGpt2());
        at::NoGradGuard noGrad;
        const at::Tensor ids = randomIds(2, 8, 97, 61); // [2, 8]
        ForwardInput input;
        input.inputsEmbeds = model->embed(ids);
        input.positions = at::arange(8, at::kLong).unsqueeze(0).expand({2, 8});
        input.attentionMask = at::ones({2, 8}, at::kBool);
        const at::Tensor fromEmbeds = model->forward(input).logits;
        QCOMPARE(fromEmbeds.scalar_type(), at::kFloat);
        QCOMPARE(maxAbsDiff(fromEmbeds, model->forwardIds(ids).logits), 0.0);
        // Logits for chosen positions only.
        input.logitIndices = at::tensor(std::vector<std::int64_t>{7, 2, 0, 5}, at::kLong).view({2, 2});
        const at::Tensor chosen = model->forward(input).logits; // [2, 2, V]
        QCOMPARE(chosen.sizes().vec(), (std::vector<std::int64_t>{2, 2, 97}));
        QVERIFY(maxAbsDiff(chosen[0][0], fromEmbeds[0][7]) <= 1e-6);
        QVERIFY(maxAbsDiff(chosen[1][1], fromEmbeds[1][5]) <= 1e-6);
        // A caller that knows the positions' range (the σ step) saves the device read: same logits.
        input.logitIndices = at::Tensor();
        input.positionRange = std::make_pair(std::int64_t(0), std::int64_t(7));
        QCOMPARE(maxAbsDiff(model->forward(input).logits, fromEmbeds), 0.0);
    }

    void windowErrorsNameTheLengths()
    {
        const auto gpt2 = randomModel(tinyGpt2()); // 64 positions
        gpt2->checkSequenceLength(64, "context (50) + σ (4) + query (10)");
        try {
            gpt2->checkSequenceLength(65, "context (50) + σ (4) + query (11)");
            QFAIL("no error for 65 tokens in a 64-position window");
        } catch (const sp::Error& error) {
            const QString message = QString::fromUtf8(error.what());
            QVERIFY2(message.contains("65") && message.contains("64") && message.contains("query (11)"),
                     error.what());
        }
        at::NoGradGuard noGrad;
        QVERIFY_THROWS_EXCEPTION(sp::Error, gpt2->forwardIds(randomIds(1, 65, 97, 1)));
        // A valid slot at position 64 would read past the table; a padded slot may hold anything.
        ForwardInput input;
        input.inputsEmbeds = gpt2->embed(randomIds(1, 2, 97, 2));
        input.positions = at::tensor(std::vector<std::int64_t>{3, 64}, at::kLong).view({1, 2});
        input.attentionMask = at::ones({1, 2}, at::kBool);
        QVERIFY_THROWS_EXCEPTION(sp::Error, gpt2->forward(input));
        input.attentionMask[0][1] = false;
        QVERIFY(gpt2->forward(input).logits.isfinite().all().item<bool>());
        // A given range is checked against the window like a measured one.
        input.positionRange = std::make_pair(std::int64_t(3), std::int64_t(64));
        QVERIFY_THROWS_EXCEPTION(sp::Error, gpt2->forward(input));
        input.positionRange = std::make_pair(std::int64_t(-1), std::int64_t(3));
        QVERIFY_THROWS_EXCEPTION(sp::Error, gpt2->forward(input));

        const auto mistral = randomModel(tinyMistral()); // window 128, sliding window 48
        mistral->checkSequenceLength(48, "the context");
        try {
            mistral->checkSequenceLength(49, "the context");
            QFAIL("no error beyond the sliding window");
        } catch (const sp::Error& error) {
            const QString message = QString::fromUtf8(error.what());
            QVERIFY2(message.contains("sliding") && message.contains("49") && message.contains("48"),
                     error.what());
        }
        QVERIFY_THROWS_EXCEPTION(sp::Error, mistral->forwardIds(randomIds(1, 49, 101, 3)));
        const auto llama = randomModel(tinyLlama());
        QVERIFY_THROWS_EXCEPTION(sp::Error, llama->forwardIds(randomIds(1, 129, 101, 4)));
        QVERIFY_THROWS_EXCEPTION(sp::Error, llama->embed(at::full({1, 1}, 101, at::kLong)));
    }

    void cpuThreadsFollowTheEnvironment()
    {
        const QByteArray saved = qgetenv("OMP_NUM_THREADS");
        qputenv("OMP_NUM_THREADS", "3");
        QCOMPARE(sp::model::chooseCpuThreads(), 3);
        qunsetenv("OMP_NUM_THREADS");
        const int chosen = sp::model::chooseCpuThreads();
        if (at::hasMKL()) // MKL's GEMMs use the OpenMP pool: the cores the load average leaves free
            QVERIFY(chosen >= 1 && chosen <= int(std::thread::hardware_concurrency()));
        else // OpenBLAS has its own GEMM pool: one OpenMP thread, so the two do not spin against each other
            QCOMPARE(chosen, 1);
        if (!saved.isEmpty())
            qputenv("OMP_NUM_THREADS", saved);
    }

    void greedyDecodingMatchesArgmaxOfFullRecompute_data() { addArchitectureRows(); }
    void greedyDecodingMatchesArgmaxOfFullRecompute()
    {
        QFETCH(QString, architecture);
        const auto model = randomModel(configNamed(architecture.toStdString()));
        const std::vector<std::int64_t> prompt{3, 14, 15, 9, 26};
        const std::vector<std::int64_t> generated = sp::model::greedyDecode(*model, prompt, 8, {});
        QCOMPARE(generated.size(), std::size_t(8));
        at::NoGradGuard noGrad;
        std::vector<std::int64_t> sequence = prompt;
        for (std::size_t step = 0; step < generated.size(); ++step) {
            const at::Tensor ids = at::tensor(sequence, at::kLong).unsqueeze(0);
            const std::int64_t next = model->forwardIds(ids).logits[0][-1].argmax().item<std::int64_t>();
            QCOMPARE(generated[step], next);
            sequence.push_back(next);
        }
        // Stops after the first stop id, keeping it.
        const auto stopped = sp::model::greedyDecode(*model, prompt, 8, {generated[2]});
        QVERIFY(stopped.size() <= 3 && stopped.back() == generated[2]);
        QVERIFY_THROWS_EXCEPTION(sp::Error, sp::model::greedyDecode(*model, {}, 4, {}));
    }
};

QTEST_APPLESS_MAIN(TestModel)
#include "test_model.moc"
