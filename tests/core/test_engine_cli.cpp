// `softprompt train / eval / sweep / bench train`, run as the real executable on a random model
// folder written by the test (config.json + model.safetensors + a byte-level tokenizer.json that,
// like Llama's, puts <s> before every text).
#ifndef Q_MOC_RUN // moc needs none of these; following them into torch took it ~10 s a test
#include "test_engine_support.h"
#include "test_model_folder.h"

#include "softprompt/paths.h"
#include "softprompt/run_store.h"
#endif

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <csignal>
#include <thread>

namespace {

struct CliResult {
    int exitCode = -1;
    nlohmann::json json;
    QString err;
};

CliResult runCli(const QStringList& arguments, int interruptAfterMs = -1)
{
    QProcess process;
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    environment.insert("OMP_NUM_THREADS", "1");
    process.setProcessEnvironment(environment);
    process.start(SP_CLI_PATH, arguments);
    process.waitForStarted();
    QByteArray progress;
    if (interruptAfterMs >= 0) {
        process.setReadChannel(QProcess::StandardError);
        while (!progress.contains("step ") && process.waitForReadyRead(60000)) // training has started
            progress += process.readAllStandardError();
        std::this_thread::sleep_for(std::chrono::milliseconds(interruptAfterMs));
        ::kill(pid_t(process.processId()), SIGINT);
    }
    if (!process.waitForFinished(180000))
        process.kill();
    CliResult result;
    result.exitCode = process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1;
    result.err = QString::fromUtf8(progress + process.readAllStandardError());
    const QByteArray out = process.readAllStandardOutput();
    if (!out.trimmed().isEmpty())
        result.json = nlohmann::json::parse(out.toStdString());
    return result;
}

} // namespace

class TestEngineCli : public QObject {
    Q_OBJECT
private:
    QTemporaryDir folder_;
    QString model_, context_, queries_, db_;

    QStringList trainArguments(const QString& command = "train") const
    {
        return {command,       "--model", model_,   "--context", context_, "--queries", queries_,
                "--objective", "kl",      "--init", "text",      "--lr",   "0.05",      "--batch",
                "4",           "--seed",  "3",      "--db",      db_,      "--json"};
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(folder_.isValid());
        model_ = folder_.filePath("model");
        QDir().mkpath(model_);
        enginetest::writeModelFolder(model_);
        context_ = folder_.filePath("context.txt");
        sp::writeTextFile(context_.toStdString(), enginetest::tinyContext());
        queries_ = folder_.filePath("queries.jsonl");
        sp::Query first{"What is zorp?", "blue", false};
        std::vector<sp::Query> queries = enginetest::tinyQueries(8);
        queries[0] = first;
        sp::writeQueriesJsonl(queries_.toStdString(), queries);
        db_ = folder_.filePath("runs.sqlite");
    }

    // The final JSON carries the contract's fields; `eval --run` reproduces the held-out numbers
    // from the stored run.
    void trainThenEval()
    {
        const CliResult train = runCli(trainArguments() << "--k"
                                                        << "4"
                                                        << "--steps"
                                                        << "40"
                                                        << "--split"
                                                        << "0.25");
        QVERIFY2(train.exitCode == 0, qPrintable(train.err));
        const nlohmann::json& out = train.json;
        for (const char* key : {"run_id", "steps", "k", "compression_ratio", "initial_s", "final_s",
                                "heldout_top1_agreement", "heldout_s", "baselines"})
            QVERIFY2(out.contains(key), key);
        QCOMPARE(out["status"].get<std::string>(), std::string("finished"));
        QCOMPARE(out["steps"].get<int>(), 40);
        QCOMPARE(out["k"].get<int>(), 4);
        QCOMPARE(out["heldout_queries"].get<int>(), 2);
        const int contextTokens = int(enginetest::tinyContext().size()); // byte-level
        QCOMPARE(out["compression_ratio"].get<double>(), contextTokens / 4.0);
        QVERIFY(out["final_s"].get<double>() < out["initial_s"].get<double>());
        for (const char* baseline : {"full", "none", "first_k", "last_k", "pruned"}) {
            QVERIFY2(out["baselines"].contains(baseline), baseline);
            QVERIFY(out["baselines"][baseline].contains("heldout_s"));
            QVERIFY(out["baselines"][baseline].contains("heldout_top1_agreement"));
        }
        QCOMPARE(out["baselines"]["full"]["heldout_top1_agreement"].get<double>(), 1.0);
        QVERIFY(train.err.contains("ETA"));

        const std::int64_t runId = out["run_id"].get<std::int64_t>();
        std::size_t trainedRows = 0;
        {
            sp::RunStore store = sp::RunStore::open(db_.toStdString());
            trainedRows = store.evaluations(runId).size();
            QCOMPARE(trainedRows, std::size_t(8 * sp::allConditions().size())); // every query, condition
            QCOMPARE(store.run(runId).summary["heldout_s"], out["heldout_s"]);  // the CLI's keys, stored
            QVERIFY(store.run(runId).summary["heldout"].contains("sigma"));     // and the intervals
        }

        const CliResult eval = runCli({"eval", "--run", QString::number(runId), "--db", db_, "--json"});
        QVERIFY2(eval.exitCode == 0, qPrintable(eval.err));
        QVERIFY(std::abs(eval.json["heldout_s"].get<double>() - out["heldout_s"].get<double>()) < 1e-6);
        QCOMPARE(eval.json["heldout_top1_agreement"].get<double>(),
                 out["heldout_top1_agreement"].get<double>());

        // eval --run stored what it measured: the run's rows are replaced (one per query and
        // condition, now tied to the stored queries), and σ's held-out rows average to its heldout_s.
        sp::RunStore store = sp::RunStore::open(db_.toStdString());
        const std::vector<sp::StoredEvaluation> rows = store.evaluations(runId);
        QCOMPARE(rows.size(), trainedRows);
        QCOMPARE(eval.json["stored_evaluations"].get<std::size_t>(), rows.size());
        QCOMPARE(eval.json["sigma_step"].get<int>(), 40);
        const sp::QuerySetRecord set = store.querySet(*store.run(runId).querySetId);
        double heldoutSigmaS = 0.0;
        int heldoutSigmaRows = 0;
        for (const sp::StoredEvaluation& row : rows) {
            QVERIFY2(row.queryId.has_value(), row.query.c_str());
            const auto query =
                std::find_if(set.queries.begin(), set.queries.end(),
                             [&](const sp::StoredQuery& stored) { return stored.id == *row.queryId; });
            QVERIFY(query != set.queries.end());
            QCOMPARE(row.query, query->text);
            if (row.condition == "sigma" && row.heldOut) {
                QCOMPARE(row.sigmaStep, 40);
                heldoutSigmaS += row.s;
                ++heldoutSigmaRows;
            }
        }
        QCOMPARE(heldoutSigmaRows, 2);
        QVERIFY(std::abs(heldoutSigmaS / heldoutSigmaRows - eval.json["heldout_s"].get<double>()) < 1e-9);
    }

    // SIGINT cancels cleanly: status cancelled, σ kept and evaluated, exit 130.
    void interruptCancels()
    {
        const CliResult result = runCli(trainArguments() << "--k"
                                                         << "4"
                                                         << "--steps"
                                                         << "1000000",
                                        300);
        QCOMPARE(result.exitCode, 130);
        QCOMPARE(result.json["status"].get<std::string>(), std::string("cancelled"));
        QVERIFY(result.json["steps"].get<int>() > 0);
        QVERIFY(result.json.contains("heldout_s"));
        const CliResult eval =
            runCli({"eval", "--run", QString::number(result.json["run_id"].get<long long>()), "--db", db_,
                    "--json"});
        QVERIFY2(eval.exitCode == 0, qPrintable(eval.err)); // the cancelled run's σ was stored
    }

    void sweep()
    {
        const CliResult result = runCli(trainArguments("sweep") << "--ks"
                                                                << "1,4"
                                                                << "--steps"
                                                                << "10");
        QVERIFY2(result.exitCode == 0, qPrintable(result.err));
        QCOMPARE(int(result.json["points"].size()), 2);
        QCOMPARE(result.json["points"][0]["k"].get<int>(), 1);
        QCOMPARE(result.json["points"][1]["compression_ratio"].get<double>(),
                 result.json["context_tokens"].get<double>() / 4.0);
        QVERIFY(result.json["sweep_id"].is_number());
    }

    void errors_data()
    {
        QTest::addColumn<QStringList>("arguments");
        QTest::addColumn<QString>("mention");
        QTest::newRow("missing context")
            << QStringList{"--context", "/nonexistent/context.txt"} << "no such file";
        QTest::newRow("k too large") << QStringList{"--k", "5000"} << "more than the context's";
        QTest::newRow("unknown objective") << QStringList{"--objective", "l1"} << "unknown objective 'l1'";
        QTest::newRow("unknown init") << QStringList{"--init", "zeros"} << "unknown initialisation";
        QTest::newRow("device") << QStringList{"--device", "tpu"} << "unknown device";
    }
    void errors()
    {
        QFETCH(QStringList, arguments);
        QFETCH(QString, mention);
        QStringList command = trainArguments() << "--steps"
                                               << "5";
        for (int i = 0; i + 1 < arguments.size(); i += 2) { // replace an option or add it
            const qsizetype at = command.indexOf(arguments[i]);
            if (at >= 0)
                command[at + 1] = arguments[i + 1];
            else
                command << arguments[i] << arguments[i + 1];
        }
        const CliResult result = runCli(command);
        QCOMPARE(result.exitCode, 1);
        QVERIFY2(result.err.contains(mention), qPrintable(result.err));
        QVERIFY(result.err.trimmed().count('\n') == 0); // one line
    }

    // Core's errors name no CLI flag; the CLI adds the flag that does what the message says, per
    // sp::Remedy (spcli::cliAdvice), after core's own words.
    void remediesNameTheFlag_data()
    {
        QTest::addColumn<QString>("command");
        QTest::addColumn<QString>("coreWords");
        QTest::addColumn<QString>("advice");
        QTest::newRow("not a database") << "runs list"
                                        << "to start a new run database here"
                                        << " (--db PATH picks another database file)";
        QTest::newRow("chat template without the context") << "train chat"
                                                           << "with the markers written into the texts"
                                                           << " (--format plain)";
        QTest::newRow("no CUDA") << "train cuda"
                                 << "on this machine; use the CPU"
                                 << " (--device cpu;";
    }
    void remediesNameTheFlag()
    {
        QFETCH(QString, command);
        QFETCH(QString, coreWords);
        QFETCH(QString, advice);
        QStringList arguments;
        if (command == "runs list") {
            const QString notADatabase = folder_.filePath("not-a-database.sqlite");
            sp::writeTextFile(notADatabase.toStdString(), "runs, but as text\n");
            arguments = QStringList{"runs", "list", "--db", notADatabase};
        } else if (command == "train chat") {
            // A model whose chat template drops the messages' content: nowhere to put the context.
            const QString model = folder_.filePath("model-without-content");
            QDir().mkpath(model);
            enginetest::writeModelFolder(model);
            const nlohmann::json config{
                {"chat_template", "{% for m in messages %}<{{ m.role }}>{% endfor %}"},
                {"bos_token", "<s>"},
                {"eos_token", "</s>"}};
            sp::writeTextFile(QDir(model).filePath("tokenizer_config.json").toStdString(), config.dump());
            arguments = trainArguments() << "--steps"
                                         << "5"
                                         << "--format"
                                         << "chat";
            arguments[arguments.indexOf("--model") + 1] = model;
        } else {
            arguments = trainArguments() << "--steps"
                                         << "5"
                                         << "--device"
                                         << "cuda";
        }
        if (command != "runs list") // nothing of these runs in the other tests' database
            arguments[arguments.indexOf("--db") + 1] = folder_.filePath("remedies.sqlite");
        const CliResult result = runCli(arguments);
        if (command == "train cuda" && result.exitCode == 0)
            QSKIP("CUDA is available here, so --device cuda is no error");
        QCOMPARE(result.exitCode, 1);
        QVERIFY2(result.err.contains(coreWords + advice), qPrintable(result.err));
        QVERIFY(result.err.trimmed().count('\n') == 0); // one line
    }

    void emptyQueriesFile()
    {
        const QString empty = folder_.filePath("empty.jsonl");
        sp::writeTextFile(empty.toStdString(), "\n");
        QStringList arguments = trainArguments();
        arguments[arguments.indexOf("--queries") + 1] = empty;
        const CliResult result = runCli(arguments);
        QCOMPARE(result.exitCode, 1);
        QVERIFY2(result.err.contains("holds no queries"), qPrintable(result.err));
    }

    void benchTrain()
    {
        const CliResult result =
            runCli({"bench", "train", "--model", model_, "--steps", "8", "--context-tokens", "120"});
        QVERIFY2(result.exitCode == 0, qPrintable(result.err));
        for (const char* key : {"steps_per_second", "tokens_per_second", "achieved_gflops",
                                "gemm_gflops_1024", "fraction_of_gemm_1024", "teacher"})
            QVERIFY2(result.json.contains(key), key);
        QVERIFY(result.json["teacher"]["cache_speedup"].get<double>() > 1.0);
        QCOMPARE(result.json["dtype"].get<std::string>(), std::string("float32"));
        // Half precision on the CPU (bf16 weights, float32 compute per block): it runs, and the JSON
        // says bfloat16, so it is not a silent float32 run.
        const CliResult half = runCli({"bench", "train", "--model", model_, "--steps", "5", "--context-tokens",
                                       "120", "--dtype", "bfloat16"});
        QVERIFY2(half.exitCode == 0, qPrintable(half.err));
        QCOMPARE(half.json["dtype"].get<std::string>(), std::string("bfloat16"));
    }

    // `bench train --random PRESET`: a random model of the preset's published shape, set against its
    // own weight products run as bare GEMMs in the same run.
    void benchTrainOnRandomShapes()
    {
        const CliResult tiny =
            runCli({"bench", "train", "--random", "tiny", "--steps", "6", "--context-tokens", "64"});
        QVERIFY2(tiny.exitCode == 0, qPrintable(tiny.err));
        const sp::ModelConfig config = sp::randomModelConfig("tiny");
        QCOMPARE(tiny.json["hidden_size"].get<std::int64_t>(), config.hiddenSize);
        QCOMPARE(tiny.json["layers"].get<std::int64_t>(), config.numLayers);
        QCOMPARE(tiny.json["parameters"].get<std::int64_t>(), config.parameterCount());
        // The replay's FLOPs follow from the shapes: per layer q/k/v, o, gate/up and down, times the
        // prefix rows (BOS ⊕ σ) and the batch's rows, forward and backward, plus the head at the
        // scored rows.
        const double d = double(config.hiddenSize), inner = double(config.intermediateSize);
        const double qkv = d * double((config.numHeads + 2 * config.numKeyValueHeads) * config.headDim);
        const double layer = qkv + d * double(config.numHeads * config.headDim) + 3.0 * d * inner;
        const double prefixRows = 1 + 8, batchRows = 8 * 12; // BOS + k = 8; batch 8 × 12 query tokens
        const double expected =
            4.0 * ((prefixRows + batchRows) * layer * double(config.numLayers) + 8 * d * double(config.vocabSize));
        QCOMPARE(tiny.json["gemm_same_shapes"]["gflop"].get<double>(), expected / 1e9);
        const double fraction = tiny.json["fraction_of_gemm_same_shapes"].get<double>();
        QVERIFY2(fraction > 0.0 && fraction < 2.0, qPrintable(QString::number(fraction)));
        QCOMPARE(tiny.json["model"].get<std::string>().rfind("random tiny", 0), std::size_t(0));

        const CliResult unknown = runCli({"bench", "train", "--random", "gpt5", "--steps", "6"});
        QCOMPARE(unknown.exitCode, 1);
        QVERIFY2(unknown.err.contains("smollm-135m") && unknown.err.contains("qwen2.5-0.5b"),
                 qPrintable(unknown.err));
        const CliResult cuda = runCli({"bench", "train", "--random", "tiny", "--device", "cuda"});
        QCOMPARE(cuda.exitCode, 1);
        QVERIFY2(cuda.err.contains("--model"), qPrintable(cuda.err));
    }
};

QTEST_GUILESS_MAIN(TestEngineCli)
#include "test_engine_cli.moc"
