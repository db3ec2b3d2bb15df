// The engine's pure parts: every objective's value against a direct formula and its gradient
// against finite differences (in double), the truncated-teacher bound, Adam against a scalar
// reference, the schedule, clipping, bootstrap intervals, TrainConfig JSON and the JSONL format.
#ifndef Q_MOC_RUN // moc needs none of these; following them into torch took it ~10 s a test
#include "engine/objectives.h"
#include "engine/statistics.h"
#include "optim/adam.h"
#include "optim/learning_rate.h"

#include "softprompt/engine.h"
#include "softprompt/train_config_json.h"
#include "softprompt/error.h"
#include "softprompt/paths.h"
#endif

#include <QTemporaryDir>
#include <QtTest>

#include <cmath>

using sp::Objective;
using namespace sp::engine;
using namespace sp::optim;

Q_DECLARE_METATYPE(sp::Objective)

namespace {

constexpr std::int64_t kBatch = 2, kPositions = 3, kVocab = 9;

at::TensorOptions doubles()
{
    return at::TensorOptions().dtype(at::kDouble);
}

// Teacher targets from full teacher logits [B, L, V]: the engine's own bucketing; the last
// position of row 1 is padding.
TeacherTargets makeTeacher(const at::Tensor& teacherLogits, std::int64_t keep, double temperature)
{
    const TeacherBuckets buckets = teacherBuckets(teacherLogits, keep, temperature);
    TeacherTargets teacher;
    teacher.ids = buckets.ids;
    teacher.logits = buckets.logits;
    teacher.logProbs = buckets.logProbs;
    teacher.logProbsAt1 = buckets.logProbs1;
    teacher.outputIds = buckets.ids.select(-1, 0).contiguous();
    teacher.mask = at::ones({teacherLogits.size(0), teacherLogits.size(1)}, at::kBool);
    if (teacherLogits.size(0) > 1)
        teacher.mask[1][teacherLogits.size(1) - 1] = false;
    teacher.truncated = keep < teacherLogits.size(-1);
    return teacher;
}

std::vector<double> row(const at::Tensor& logits, std::int64_t b, std::int64_t l)
{
    const at::Tensor values = logits[b][l].contiguous();
    return std::vector<double>(values.data_ptr<double>(), values.data_ptr<double>() + values.numel());
}

std::vector<double> softmax(const std::vector<double>& logits, double temperature)
{
    double top = -INFINITY;
    for (double z : logits)
        top = std::max(top, z / temperature);
    std::vector<double> p(logits.size());
    double sum = 0;
    for (std::size_t i = 0; i < logits.size(); ++i)
        sum += p[i] = std::exp(logits[i] / temperature - top);
    for (double& value : p)
        value /= sum;
    return p;
}

// The objective written out from its definition for one position, on the K kept ids + tail.
double directObjective(Objective objective, const std::vector<double>& student,
                       const std::vector<double>& teacher, std::int64_t keep, double temperature)
{
    const std::size_t vocab = teacher.size();
    std::vector<std::size_t> order(vocab);
    for (std::size_t i = 0; i < vocab; ++i)
        order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return teacher[a] > teacher[b]; });
    order.resize(std::size_t(keep));
    if (objective == Objective::TeacherNLL) {
        const std::vector<double> q = softmax(student, 1.0);
        return -std::log(q[order[0]]);
    }
    if (objective == Objective::LogitMSE) {
        double sum = 0;
        for (std::size_t id : order)
            sum += (student[id] - teacher[id]) * (student[id] - teacher[id]);
        return sum / double(keep);
    }
    const std::vector<double> pFull = softmax(teacher, temperature), qFull = softmax(student, temperature);
    std::vector<double> p, q;
    double pKept = 0, qKept = 0;
    for (std::size_t id : order) {
        p.push_back(pFull[id]);
        q.push_back(qFull[id]);
        pKept += pFull[id];
        qKept += qFull[id];
    }
    if (std::size_t(keep) < vocab) {
        p.push_back(1.0 - pKept);
        q.push_back(1.0 - qKept);
    }
    double value = 0;
    switch (objective) {
    case Objective::ForwardKL:
        for (std::size_t i = 0; i < p.size(); ++i)
            value += p[i] * std::log(p[i] / q[i]);
        return value;
    case Objective::ReverseKL:
        for (std::size_t i = 0; i < p.size(); ++i)
            value += q[i] * std::log(q[i] / p[i]);
        return value;
    case Objective::JensenShannon:
        for (std::size_t i = 0; i < p.size(); ++i) {
            const double m = 0.5 * (p[i] + q[i]);
            value += 0.5 * p[i] * std::log(p[i] / m) + 0.5 * q[i] * std::log(q[i] / m);
        }
        return value;
    case Objective::Cosine: {
        double dot = 0, pp = 0, qq = 0;
        for (std::size_t i = 0; i < p.size(); ++i) {
            dot += p[i] * q[i];
            pp += p[i] * p[i];
            qq += q[i] * q[i];
        }
        return dot / std::sqrt(pp * qq);
    }
    default:
        return NAN;
    }
}

double scalarObjective(Objective objective, const at::Tensor& student, const TeacherTargets& teacher,
                       double temperature)
{
    return objectivePerPosition(objective, student, teacher, temperature).sum().item<double>();
}

} // namespace

class TestEngineObjectives : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase() { at::manual_seed(1234); }

    void objectives_data()
    {
        QTest::addColumn<Objective>("objective");
        QTest::addColumn<qint64>("keep");
        QTest::addColumn<double>("temperature");
        for (const sp::ObjectiveInfo& info : sp::allObjectives()) {
            for (qint64 keep : {qint64(kVocab), qint64(4)})
                for (double temperature : {1.0, 2.5}) {
                    const QByteArray name = QByteArray::fromStdString(info.key) +
                                            (keep == kVocab ? " full" : " top4") +
                                            " tau=" + QByteArray::number(temperature);
                    QTest::newRow(name.constData()) << info.objective << keep << temperature;
                }
        }
    }

    // The value of each objective at every position equals its definition written out.
    void objectives()
    {
        QFETCH(Objective, objective);
        QFETCH(qint64, keep);
        QFETCH(double, temperature);
        const at::Tensor teacherLogits =
            at::randn({kBatch, kPositions, kVocab}, doubles()) * 2.0; // [B, L, V]
        const at::Tensor studentLogits =
            at::randn({kBatch, kPositions, kVocab}, doubles()) * 2.0; // [B, L, V]
        const TeacherTargets teacher = makeTeacher(teacherLogits, keep, temperature);
        const at::Tensor values =
            objectivePerPosition(objective, studentLogits, teacher, temperature); // [B, L]
        for (std::int64_t b = 0; b < kBatch; ++b)
            for (std::int64_t l = 0; l < kPositions; ++l) {
                const double got = values[b][l].item<double>();
                if (!teacher.mask[b][l].item<bool>()) {
                    QCOMPARE(got, 0.0);
                    continue;
                }
                const double expected = directObjective(objective, row(studentLogits, b, l),
                                                        row(teacherLogits, b, l), keep, temperature);
                QVERIFY2(
                    std::abs(got - expected) <= 1e-10 * std::max(1.0, std::abs(expected)),
                    qPrintable(QString("position %1,%2: %3 vs %4").arg(b).arg(l).arg(got).arg(expected)));
            }
    }

    void gradients_data() { objectives_data(); }

    // Autograd's gradient of every objective w.r.t. the student's logits equals central
    // differences; masked positions get exactly zero gradient.
    void gradients()
    {
        QFETCH(Objective, objective);
        QFETCH(qint64, keep);
        QFETCH(double, temperature);
        const at::Tensor teacherLogits =
            at::randn({kBatch, kPositions, kVocab}, doubles()) * 1.5; // [B, L, V]
        const at::Tensor student =
            (at::randn({kBatch, kPositions, kVocab}, doubles()) * 1.5).requires_grad_(true);
        const TeacherTargets teacher = makeTeacher(teacherLogits, keep, temperature);
        const at::Tensor loss = objectivePerPosition(objective, student, teacher, temperature).sum();
        const at::Tensor gradient = torch::autograd::grad({loss}, {student})[0]; // [B, L, V]

        const at::Tensor probe = student.detach().clone();
        const double step = 1e-6;
        double worst = 0;
        for (std::int64_t i = 0; i < probe.numel(); ++i) {
            const double original = probe.view(-1)[i].item<double>();
            probe.view(-1)[i] = original + step;
            const double up = scalarObjective(objective, probe, teacher, temperature);
            probe.view(-1)[i] = original - step;
            const double down = scalarObjective(objective, probe, teacher, temperature);
            probe.view(-1)[i] = original;
            const double numeric = (up - down) / (2 * step);
            worst = std::max(worst, std::abs(numeric - gradient.view(-1)[i].item<double>()));
        }
        QVERIFY2(worst < 1e-7, qPrintable(QString("largest gradient error %1").arg(worst)));
        QCOMPARE(gradient[1][kPositions - 1].abs().sum().item<double>(), 0.0);
        QVERIFY(gradient.abs().sum().item<double>() > 0.0);
    }

    // Coarse-graining to K + 1 buckets: equal to the full KL when K = V, never above it, and
    // growing as K grows (each larger K refines the partition).
    void truncatedKlIsABound()
    {
        const std::int64_t vocab = 200;
        const at::Tensor teacherLogits = at::randn({1, 4, vocab}, doubles()) * 3.0; // [1, L, V]
        const at::Tensor studentLogits = at::randn({1, 4, vocab}, doubles()) * 3.0; // [1, L, V]
        const at::Tensor full = at::kl_div(at::log_softmax(studentLogits, -1),
                                           at::log_softmax(teacherLogits, -1), at::Reduction::None, true)
                                    .sum(-1); // [1, L]
        at::Tensor previous = at::zeros_like(full);
        for (std::int64_t keep : {1, 4, 16, 64, 199, 200}) {
            TeacherTargets teacher = makeTeacher(teacherLogits, keep, 1.0);
            teacher.mask.fill_(true);
            const at::Tensor kl =
                objectivePerPosition(Objective::ForwardKL, studentLogits, teacher, 1.0); // [1, L]
            QVERIFY2((kl <= full + 1e-12).all().item<bool>(),
                     qPrintable(QString("K=%1 exceeds the full KL").arg(keep)));
            QVERIFY2((kl >= previous - 1e-12).all().item<bool>(),
                     qPrintable(QString("K=%1 decreased").arg(keep)));
            QVERIFY((kl >= 0).all().item<bool>());
            previous = kl;
        }
        QVERIFY(at::allclose(previous, full, 1e-12, 1e-12));
        // The evaluation's KL at temperature 1 uses the same buckets.
        TeacherTargets teacher = makeTeacher(teacherLogits, vocab, 3.0);
        teacher.mask.fill_(true);
        QVERIFY(at::allclose(forwardKlAt1(studentLogits, teacher), full, 1e-12, 1e-12));
    }

    // Identical distributions: every divergence is 0 and cosine is 1; JS never exceeds ln 2.
    void identityAndRanges()
    {
        const at::Tensor logits = at::randn({kBatch, kPositions, 30}, doubles()) * 4.0;
        for (std::int64_t keep : {30, 5}) {
            const TeacherTargets teacher = makeTeacher(logits, keep, 1.0);
            for (Objective objective :
                 {Objective::ForwardKL, Objective::ReverseKL, Objective::JensenShannon, Objective::LogitMSE})
                QVERIFY(objectivePerPosition(objective, logits, teacher, 1.0).abs().max().item<double>() <
                        1e-12);
            const at::Tensor cosine = objectivePerPosition(Objective::Cosine, logits, teacher, 1.0);
            QVERIFY(at::allclose(cosine.masked_select(teacher.mask),
                                 at::ones({kBatch * kPositions - 1}, doubles())));
            QVERIFY((top1Agreement(logits, teacher).sum() == kBatch * kPositions - 1).item<bool>());
        }
        const at::Tensor sharp = at::randn({kBatch, kPositions, 30}, doubles()) * 50.0;
        const TeacherTargets teacher = makeTeacher(sharp, 30, 1.0);
        const at::Tensor js = objectivePerPosition(Objective::JensenShannon, -sharp, teacher, 1.0);
        QVERIFY(js.max().item<double>() <= std::log(2.0) + 1e-12);
        QVERIFY(js.max().item<double>() > 0.5); // nearly disjoint distributions come close to ln 2
    }

    void meanAndLossDirection()
    {
        const at::Tensor perPosition = at::tensor({1.0, 3.0, 0.0, 4.0, 0.0, 0.0}, doubles()).view({2, 3});
        const at::Tensor mask = at::tensor({1, 1, 0, 1, 0, 0}, at::kByte).view({2, 3}).to(at::kBool);
        const at::Tensor perQuery = meanOverPositions(perPosition, mask);
        QCOMPARE(perQuery[0].item<double>(), 2.0);
        QCOMPARE(perQuery[1].item<double>(), 4.0);
        QCOMPARE(lossFromPerQuery(Objective::ForwardKL, perQuery).item<double>(), 3.0);
        QCOMPARE(lossFromPerQuery(Objective::Cosine, perQuery).item<double>(), -3.0);
    }

    // Adam and AdamW against the update rule written out per element.
    void adamMatchesReference_data()
    {
        QTest::addColumn<bool>("decoupled");
        QTest::addColumn<double>("weightDecay");
        QTest::newRow("adam") << false << 0.0;
        QTest::newRow("adam+l2") << false << 0.1;
        QTest::newRow("adamw") << true << 0.1;
    }
    void adamMatchesReference()
    {
        QFETCH(bool, decoupled);
        QFETCH(double, weightDecay);
        AdamSettings settings;
        settings.decoupled = decoupled;
        settings.weightDecay = weightDecay;
        at::Tensor parameter = at::randn({3, 4}, doubles());
        const at::Tensor initial = parameter.clone();
        std::vector<at::Tensor> gradients;
        for (int t = 0; t < 5; ++t)
            gradients.push_back(at::randn({3, 4}, doubles()));
        Adam adam({parameter}, settings);
        for (int t = 0; t < 5; ++t)
            adam.step({parameter}, {gradients[std::size_t(t)]}, 0.05 * (t + 1));
        QCOMPARE(adam.steps(), std::int64_t(5));
        for (std::int64_t i = 0; i < parameter.numel(); ++i) {
            double p = initial.view(-1)[i].item<double>(), m = 0, v = 0;
            for (int t = 1; t <= 5; ++t) {
                const double lr = 0.05 * t;
                double g = gradients[std::size_t(t - 1)].view(-1)[i].item<double>();
                if (!decoupled)
                    g += weightDecay * p;
                m = 0.9 * m + 0.1 * g;
                v = 0.999 * v + 0.001 * g * g;
                const double mHat = m / (1 - std::pow(0.9, t)), vHat = v / (1 - std::pow(0.999, t));
                if (decoupled)
                    p *= 1 - lr * weightDecay;
                p -= lr * mHat / (std::sqrt(vHat) + 1e-8);
            }
            QVERIFY(std::abs(p - parameter.view(-1)[i].item<double>()) < 1e-12);
        }
    }

    void schedule()
    {
        const double peak = 0.1;
        QCOMPARE(warmupCosineLearningRate(1, 100, 10, peak, 0.1), 0.01);
        QCOMPARE(warmupCosineLearningRate(10, 100, 10, peak, 0.1), peak);
        QVERIFY(std::abs(warmupCosineLearningRate(100, 100, 10, peak, 0.1) - 0.1 * peak) < 1e-15);
        double previous = peak;
        for (int step = 11; step <= 100; ++step) {
            const double lr = warmupCosineLearningRate(step, 100, 10, peak, 0.1);
            QVERIFY(lr <= previous && lr >= 0.1 * peak - 1e-15);
            previous = lr;
        }
        QVERIFY(std::abs(warmupCosineLearningRate(55, 100, 10, peak, 0.1) - 0.55 * peak) < 1e-12); // cosine midpoint
        QCOMPARE(warmupCosineLearningRate(1, 100, 0, peak, 0.1),
                 peak * (0.1 + 0.9 * 0.5 * (1 + std::cos(M_PI * 0.01))));
    }

    void clipping()
    {
        at::Tensor gradient = at::full({2, 2}, 3.0, doubles()); // norm 6
        const at::Tensor norm = clipGradientNorm({gradient}, 1.5);
        QCOMPARE(norm.item<double>(), 6.0);
        QVERIFY(std::abs(gradient.norm().item<double>() - 1.5) < 1e-6);
        at::Tensor small = at::full({2, 2}, 0.1, doubles());
        clipGradientNorm({small}, 1.5);
        QCOMPARE(small[0][0].item<double>(), 0.1);
        at::Tensor unclipped = at::full({2, 2}, 3.0, doubles());
        clipGradientNorm({unclipped}, 0.0);
        QCOMPARE(unclipped[0][0].item<double>(), 3.0);
    }

    void bootstrap()
    {
        Random random(7);
        std::vector<double> values;
        for (int i = 0; i < 200; ++i)
            values.push_back(random.normal() + 2.0);
        const sp::Interval interval = bootstrapMean(values, 1);
        QVERIFY(interval.low < interval.mean && interval.mean < interval.high);
        // The normal-theory 95% half-width is 1.96 σ/√n ≈ 0.139 here.
        QVERIFY(interval.high - interval.low > 0.2 && interval.high - interval.low < 0.36);
        const sp::Interval again = bootstrapMean(values, 1);
        QCOMPARE(again.low, interval.low);
        QCOMPARE(again.high, interval.high);
        const sp::Interval constant = bootstrapMean({0.5, 0.5, 0.5}, 3);
        QCOMPARE(constant.low, 0.5);
        QCOMPARE(constant.high, 0.5);
        const sp::Interval empty = bootstrapMean({}, 3);
        QCOMPARE(empty.mean, 0.0);
    }

    void randomIsPortable()
    {
        Random a(42), b(42), c(43);
        const std::uint64_t first = a.next();
        QCOMPARE(first, b.next());
        QVERIFY(first != c.next());
        double sum = 0, squares = 0;
        Random normal(5);
        for (int i = 0; i < 20000; ++i) {
            const double x = normal.normal();
            sum += x;
            squares += x * x;
        }
        QVERIFY(std::abs(sum / 20000) < 0.03);
        QVERIFY(std::abs(squares / 20000 - 1.0) < 0.05);
        std::vector<int> items{0, 1, 2, 3, 4, 5, 6, 7};
        Random shuffler(9);
        shuffler.shuffle(items);
        std::vector<int> sorted = items;
        std::sort(sorted.begin(), sorted.end());
        QCOMPARE(sorted, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7}));
    }

    // ---- the torch-free contract ----------------------------------------------------------------

    void objectiveTable()
    {
        QCOMPARE(int(sp::allObjectives().size()), 6);
        for (const sp::ObjectiveInfo& info : sp::allObjectives()) {
            QCOMPARE(sp::objectiveFromKey(info.key), info.objective);
            QCOMPARE(sp::objectiveInfo(info.objective).key, info.key);
            QCOMPARE(info.higherIsBetter, info.objective == Objective::Cosine);
        }
        QVERIFY_THROWS_EXCEPTION(sp::Error, sp::objectiveFromKey("kld"));
        for (sp::InitKind kind :
             {sp::InitKind::Random, sp::InitKind::Vocabulary, sp::InitKind::Text, sp::InitKind::ChunkMeans})
            QCOMPARE(sp::initKindFromKey(sp::initKindKey(kind)), kind);
        QCOMPARE(sp::targetKindFromKey("continuation"), sp::TargetKind::Continuation);
        QVERIFY_THROWS_EXCEPTION(sp::Error, sp::targetKindFromKey("all"));
        QStringList keys;
        for (sp::Condition condition : sp::allConditions())
            keys << QString::fromStdString(sp::conditionKey(condition));
        QCOMPARE(keys, QStringList({"full", "sigma", "none", "first_k", "last_k", "pruned"}));
    }

    void trainConfigJson()
    {
        sp::TrainConfig config;
        config.k = 16;
        config.objective = Objective::JensenShannon;
        config.temperature = 2.0;
        config.target = sp::TargetKind::Continuation;
        config.continuationLength = 12;
        config.init = sp::InitKind::ChunkMeans;
        config.initText = "héllo";
        config.optimizer = "adam";
        config.learningRate = 0.003;
        config.steps = 77;
        config.batchSize = 5;
        config.seed = 18446744073709551615ull;
        config.teacherTopK = 32;
        config.device = "cuda";
        const sp::TrainConfig back = sp::trainConfigFromJson(nlohmann::json::parse(sp::trainConfigToJson(config).dump()));
        QCOMPARE(sp::trainConfigToJson(back), sp::trainConfigToJson(config));
        QCOMPARE(back.seed, config.seed);
        QCOMPARE(back.objective, Objective::JensenShannon);

        const sp::TrainConfig partial = sp::trainConfigFromJson(nlohmann::json{{"k", 4}});
        QCOMPARE(partial.k, 4);
        QCOMPARE(sp::trainConfigToJson(partial).dump(), [] {
            sp::TrainConfig defaults;
            defaults.k = 4;
            return sp::trainConfigToJson(defaults).dump();
        }());
        QVERIFY_THROWS_EXCEPTION(sp::Error, sp::trainConfigFromJson(nlohmann::json{{"k", "eight"}}));
        QVERIFY_THROWS_EXCEPTION(sp::Error, sp::trainConfigFromJson(nlohmann::json{{"objective", "l2"}}));
        QVERIFY_THROWS_EXCEPTION(sp::Error, sp::trainConfigFromJson(nlohmann::json::array()));
    }

    void queriesJsonl()
    {
        QTemporaryDir folder;
        const std::string path = folder.filePath("queries.jsonl").toStdString();
        sp::writeTextFile(path, "\xEF\xBB\xBF{\"query\": \"What is x?\", \"target\": \"42\"}\n\n"
                                "{\"query\": \"Say hi\"}\r\n{\"query\": \"ünïcode ✓\", \"extra\": 1}\n");
        const std::vector<sp::Query> queries = sp::readQueriesJsonl(path, true);
        QCOMPARE(int(queries.size()), 3);
        QCOMPARE(queries[0].text, std::string("What is x?"));
        QCOMPARE(queries[0].target, std::string("42"));
        QCOMPARE(queries[1].target, std::string());
        QCOMPARE(queries[2].text, std::string("ünïcode ✓"));
        QVERIFY(queries[2].heldOut);

        const std::string copy = folder.filePath("copy.jsonl").toStdString();
        sp::writeQueriesJsonl(copy, queries);
        const std::vector<sp::Query> again = sp::readQueriesJsonl(copy);
        QCOMPARE(int(again.size()), 3);
        QCOMPARE(again[2].text, queries[2].text);
        QCOMPARE(again[0].target, queries[0].target);
    }

    void queriesJsonlErrors_data()
    {
        QTest::addColumn<QByteArray>("content");
        QTest::addColumn<QString>("mention");
        QTest::newRow("empty file") << QByteArray("\n\n") << "holds no queries";
        QTest::newRow("bad json") << QByteArray("{\"query\": \"a\"}\n{\"query\": \n") << ":2: not valid JSON";
        QTest::newRow("no query") << QByteArray("{\"target\": \"a\"}\n") << ":1: needs a \"query\" string";
        QTest::newRow("empty query") << QByteArray("{\"query\": \"  \"}\n") << ":1: the query is empty";
        QTest::newRow("not object") << QByteArray("[1, 2]\n") << ":1: expected a JSON object";
        QTest::newRow("number target")
            << QByteArray("{\"query\": \"a\", \"target\": 3}\n") << "\"target\" must be a string";
        QTest::newRow("bad utf8") << QByteArray("{\"query\": \"\xff\"}\n") << ":1: not valid JSON";
    }
    void queriesJsonlErrors()
    {
        QFETCH(QByteArray, content);
        QFETCH(QString, mention);
        QTemporaryDir folder;
        const std::string path = folder.filePath("queries.jsonl").toStdString();
        sp::writeTextFile(path, content.toStdString());
        try {
            sp::readQueriesJsonl(path);
            QFAIL("expected an sp::Error");
        } catch (const sp::Error& error) {
            QVERIFY2(QString::fromUtf8(error.what()).contains(mention), error.what());
        }
        QVERIFY_THROWS_EXCEPTION(sp::Error,
                                 sp::readQueriesJsonl(folder.filePath("missing.jsonl").toStdString()));
    }
};

QTEST_GUILESS_MAIN(TestEngineObjectives)
#include "test_engine_objectives.moc"
