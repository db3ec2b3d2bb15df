// The demo corpus and its tokenizer: determinism, variety, lengths, answers that need the context,
// and a byte-level BPE that sp::Tokenizer reads and that round-trips any UTF-8.
#include "demo/byte_level_bpe.h"
#include "demo/demo_vocabulary.h"
#include "softprompt/demo_corpus.h"
#include "softprompt/demo_examples.h"
#include "softprompt/demo_tokenizer.h"
#include "softprompt/error.h"
#include "softprompt/paths.h"
#include "softprompt/text.h"
#include "softprompt/tokenizer.h"

#include <QTemporaryDir>
#include <QtTest>

#include <nlohmann/json.hpp>

#include <cctype>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <set>

namespace fs = std::filesystem;
using namespace sp::demo;

namespace {

// Rules with every attribute, for tests that look for them in a context.
DemoRules exampleRules()
{
    DemoRules rules;
    rules.greeting = "Bonjour";
    rules.closing = "Regards";
    rules.facts = {{"name", "Iris"},    {"city", "Oslo"},    {"colour", "teal"},
                   {"mascot", "otter"}, {"code", "lantern"}, {"manager", "Priya"}};
    return rules;
}

// A small tokenizer trained once for the whole test (the shipped one is checked separately).
const sp::Tokenizer& smallTokenizer()
{
    static const sp::Tokenizer tokenizer = [] {
        DemoTokenizerOptions options;
        options.seed = 3;
        options.vocabSize = 1536;
        options.sampleContexts = 40;
        return sp::Tokenizer::fromJson(trainDemoTokenizerJson(options), "test tokenizer.json");
    }();
    return tokenizer;
}

std::size_t tokenCount(std::string_view text)
{
    return smallTokenizer().encode(text).size();
}

std::string randomUtf8(std::mt19937& random, int codePoints)
{
    // Code points from every UTF-8 length class, surrogates excluded.
    static const std::vector<std::pair<std::uint32_t, std::uint32_t>> ranges = {
        {0x20, 0x7E}, {0x09, 0x0D}, {0xA0, 0x7FF}, {0x800, 0xD7FF}, {0xE000, 0xFFFD}, {0x10000, 0x10FFFF}};
    std::string text;
    for (int i = 0; i < codePoints; ++i) {
        const auto& [low, high] = ranges[random() % ranges.size()];
        const std::uint32_t c = low + random() % (high - low + 1);
        if (c < 0x80) {
            text += char(c);
        } else if (c < 0x800) {
            text += char(0xC0 | (c >> 6));
            text += char(0x80 | (c & 0x3F));
        } else if (c < 0x10000) {
            text += char(0xE0 | (c >> 12));
            text += char(0x80 | ((c >> 6) & 0x3F));
            text += char(0x80 | (c & 0x3F));
        } else {
            text += char(0xF0 | (c >> 18));
            text += char(0x80 | ((c >> 12) & 0x3F));
            text += char(0x80 | ((c >> 6) & 0x3F));
            text += char(0x80 | (c & 0x3F));
        }
    }
    return text;
}

std::optional<sp::Tokenizer> shippedTokenizer()
{
    try {
        return sp::Tokenizer::fromFile((fs::path(sp::demoModelDirectory()) / "tokenizer.json").string());
    } catch (const sp::Error&) {
        return std::nullopt;
    }
}

} // namespace

class TestDemoCorpus : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void sameSeedSameCorpus()
    {
        DemoCorpusGenerator first(42);
        DemoCorpusGenerator second(42);
        for (int i = 0; i < 5; ++i) {
            const DemoContext a = first.nextContext();
            const DemoContext b = second.nextContext();
            QCOMPARE(a.text, b.text);
            QCOMPARE(a.queries.size(), b.queries.size());
            for (std::size_t q = 0; q < a.queries.size(); ++q) {
                QCOMPARE(a.queries[q].query, b.queries[q].query);
                QCOMPARE(a.queries[q].answer, b.queries[q].answer);
            }
        }
    }

    void seedsGiveVariedCorpora()
    {
        std::set<std::string> texts;
        std::set<std::string> answers;
        std::set<std::string> ruleSets;
        int contexts = 0;
        for (std::uint64_t seed = 1; seed <= 10; ++seed) {
            DemoCorpusGenerator generator(seed);
            for (int i = 0; i < 4; ++i, ++contexts) {
                const DemoContext context = generator.nextContext();
                texts.insert(context.text);
                ruleSets.insert(sp::joinStrings(context.rules.summary(), ";"));
                for (const DemoQuery& query : context.queries)
                    answers.insert(query.answer);
            }
        }
        QCOMPARE(int(texts.size()), contexts);
        QVERIFY2(ruleSets.size() >= 30, qPrintable(QString::number(ruleSets.size())));
        QVERIFY2(answers.size() >= 150, qPrintable(QString::number(answers.size())));
    }

    void contextLengthsInRange()
    {
        DemoCorpusOptions options;
        options.countTokens = tokenCount;
        DemoCorpusGenerator generator(7, options);
        std::size_t shortest = SIZE_MAX;
        std::size_t longest = 0;
        for (int i = 0; i < 30; ++i) {
            const std::size_t tokens = tokenCount(generator.nextContext().text);
            QVERIFY2(tokens >= 300 && tokens <= 1500, qPrintable(QString::number(tokens)));
            shortest = std::min(shortest, tokens);
            longest = std::max(longest, tokens);
        }
        // Log-uniform lengths: both ends of the range occur.
        QVERIFY2(shortest < 500, qPrintable(QString::number(shortest)));
        QVERIFY2(longest > 900, qPrintable(QString::number(longest)));
        for (int target : {300, 1500}) {
            const std::size_t tokens = tokenCount(generator.nextContext(target).text);
            QVERIFY2(tokens >= 300 && tokens <= 1500, qPrintable(QString::number(tokens)));
        }
    }

    void answersAreShort()
    {
        DemoCorpusOptions options;
        options.countTokens = tokenCount;
        options.queriesPerContext = 32;
        DemoCorpusGenerator generator(11, options);
        std::map<std::string, int> attributes;
        for (int i = 0; i < 20; ++i)
            for (const DemoQuery& query : generator.nextContext().queries) {
                const std::size_t tokens = tokenCount(query.answer);
                QVERIFY2(tokens >= 1 && tokens <= 8, qPrintable(QString::fromStdString(query.answer)));
                ++attributes[query.attribute];
                QVERIFY(query.query.rfind("User: ", 0) == 0);
                QVERIFY(query.query.size() > 11 &&
                        query.query.substr(query.query.size() - 11) == "\nAssistant:");
                QCOMPARE(query.answer.front(), ' ');
            }
        // Every attribute is asked for.
        QCOMPARE(attributes.size(), demoAttributes().size());
    }

    void answerDependsOnTheContext()
    {
        // One query, many contexts: the answers differ, so the query alone cannot determine them.
        DemoCorpusGenerator generator(5);
        std::set<std::string> answers;
        for (int i = 0; i < 40; ++i) {
            const DemoRules rules = generator.drawRules();
            answers.insert(rules.reply(rules.value("city")));
        }
        QVERIFY2(answers.size() >= 38, qPrintable(QString::number(answers.size())));
    }

    void replyFollowsTheRules_data()
    {
        QTest::addColumn<QString>("greeting");
        QTest::addColumn<QString>("closing");
        QTest::addColumn<QString>("value");
        QTest::addColumn<QString>("expected");
        QTest::newRow("city") << "Ahoy"
                              << "Cheers"
                              << "Lisbon"
                              << " Ahoy! Lisbon. Cheers";
        QTest::newRow("mascot") << "Howdy"
                                << "Farewell"
                                << "otter"
                                << " Howdy! otter. Farewell";
    }
    void replyFollowsTheRules()
    {
        QFETCH(QString, greeting);
        QFETCH(QString, closing);
        QFETCH(QString, value);
        QFETCH(QString, expected);
        DemoRules rules;
        rules.greeting = greeting.toStdString();
        rules.closing = closing.toStdString();
        QCOMPARE(QString::fromStdString(rules.reply(value.toStdString())), expected);
        // The pieces are the reply, in order, each with its part.
        std::string joined;
        std::vector<std::string> parts;
        for (const auto& [part, piece] : rules.replyPieces(value.toStdString())) {
            joined += piece;
            parts.push_back(part);
        }
        QCOMPARE(QString::fromStdString(joined), expected);
        QCOMPARE(parts,
                 (std::vector<std::string>{"greeting", "punctuation", "value", "punctuation", "closing"}));
    }

    // queryAttributes limits (and, with repeats, weights) what the queries ask about.
    void queryAttributesChooseTheQueries()
    {
        DemoCorpusOptions options;
        options.queriesPerContext = 60;
        options.queryAttributes = {"code", "code", "manager"};
        DemoCorpusGenerator generator(17, options);
        const DemoContext context = generator.nextContext();
        int code = 0;
        for (const DemoQuery& query : context.queries) {
            QVERIFY2(query.attribute == "code" || query.attribute == "manager", query.attribute.c_str());
            code += query.attribute == "code";
        }
        QVERIFY2(code > 30 && code < 55, qPrintable(QString::number(code))); // about 2 in 3 of 60
    }

    void contextStatesItsRules()
    {
        const DemoRules rules = exampleRules();
        DemoCorpusGenerator generator(9);
        const DemoContext context = generator.contextWithRules(rules, 600);
        for (const char* word :
             {"Iris", " Oslo", " teal", " otter", " lantern", "Priya", " Bonjour", " Regards"})
            QVERIFY2(context.text.find(word) != std::string::npos, word);
        // The filler names no other city than the context's own.
        for (std::string_view city : {"Lisbon", "Denver", "Osaka", "Vienna"})
            QVERIFY(context.text.find(city) == std::string::npos);
        std::set<std::string> asked;
        for (const DemoQuery& query : generator.queriesFor(rules, 60)) {
            asked.insert(query.attribute);
            QCOMPARE(query.answer, " Bonjour! " + rules.value(query.attribute) + ". Regards");
        }
        QCOMPARE(asked.size(), demoAttributes().size());
        QVERIFY_THROWS_EXCEPTION(sp::Error, generator.contextWithRules(DemoRules{}, 600));
        QVERIFY_THROWS_EXCEPTION(sp::Error, rules.value("weather"));
    }

    // Distractors mention other words of a stated fact's class in sentences that state nothing;
    // the facts and their sentences stay, and with none asked for nothing changes.
    void distractorsMentionOtherWordsOfTheClass()
    {
        const DemoRules rules = exampleRules();
        DemoCorpusOptions options;
        options.distractorsPerContext = 4;
        options.distractorAttributes = {"mascot"};
        const DemoContext context = DemoCorpusGenerator(9, options).contextWithRules(rules, 600);
        for (const char* word : {"Iris", " Oslo", " teal", " otter", " lantern", "Priya"})
            QVERIFY2(context.text.find(word) != std::string::npos, word);
        QVERIFY(context.text.find("The company mascot is the otter.") != std::string::npos ||
                context.text.find("the cheerful otter,") != std::string::npos ||
                context.text.find("our mascot, the otter.") != std::string::npos);
        // Every other mascot named as a word of its own ("a drawing of a panda."): four in all.
        int distractors = 0;
        for (std::string_view mascot : vocabulary::mascots()) {
            const std::string word = " " + std::string(mascot);
            for (std::size_t at = context.text.find(word); mascot != "otter" && at != std::string::npos;
                 at = context.text.find(word, at + 1))
                distractors += !std::isalpha(static_cast<unsigned char>(context.text[at + word.size()]));
        }
        QCOMPARE(distractors, 4);

        // None asked for: the same text as a generator without the option, whatever the list says.
        DemoCorpusOptions none;
        none.distractorAttributes = {"mascot"};
        QCOMPARE(DemoCorpusGenerator(9, none).contextWithRules(rules, 600).text,
                 DemoCorpusGenerator(9).contextWithRules(rules, 600).text);
    }

    void replyWordClassesFollowTheAttributes()
    {
        // Class order is part of the seeded model: the values of each attribute, then greetings, closings.
        const auto& classes = vocabulary::replyWordClasses();
        QCOMPARE(classes.size(), demoAttributes().size() + 2);
        for (std::size_t i = 0; i < demoAttributes().size(); ++i)
            QVERIFY(classes[i] == &vocabulary::valuesOf(demoAttributes()[i]));
        QVERIFY(classes[classes.size() - 2] == &vocabulary::greetings());
        QVERIFY(classes.back() == &vocabulary::closings());
    }

    void heldoutPhrasingsAreKeptApart()
    {
        DemoCorpusGenerator generator(4);
        const DemoRules rules = generator.drawRules();
        auto questionOf = [](const DemoQuery& query) {
            // The question without its opener: the text after the last ". " or "User: ".
            std::string text = query.query.substr(6, query.query.size() - 6 - 11);
            const std::size_t stop = text.rfind(". ", text.size() - 2);
            return stop == std::string::npos ? text : text.substr(stop + 2);
        };
        std::set<std::string> train;
        std::set<std::string> heldout;
        for (const DemoQuery& query : generator.queriesFor(rules, 300, PhrasingSplit::Train))
            train.insert(questionOf(query));
        for (const DemoQuery& query : generator.queriesFor(rules, 300, PhrasingSplit::Heldout))
            heldout.insert(questionOf(query));
        QVERIFY2(train.size() >= 4 * demoAttributes().size(), qPrintable(QString::number(train.size())));
        QVERIFY2(heldout.size() >= 2 * demoAttributes().size(), qPrintable(QString::number(heldout.size())));
        for (const std::string& question : heldout)
            QVERIFY2(!train.count(question), question.c_str());
    }

    void bpeRoundTripsAnyUtf8()
    {
        const sp::Tokenizer& tokenizer = smallTokenizer();
        QCOMPARE(tokenizer.vocabSize(), 1536);
        QVERIFY(tokenizer.tokenToId(kDemoEndOfText).has_value());
        QVERIFY(tokenizer.isSpecial(*tokenizer.tokenToId(kDemoEndOfText)));
        std::mt19937 random(1);
        std::vector<std::string> texts = {"",
                                          " ",
                                          "\n\n",
                                          "Hello, world!",
                                          "naïve café — 東京 🚀",
                                          "tabs\tand\r\nnewlines",
                                          "<|endoftext|> is special"};
        for (int i = 0; i < 50; ++i)
            texts.push_back(randomUtf8(random, 1 + int(random() % 40)));
        for (const std::string& text : texts) {
            const std::vector<std::int32_t> ids = tokenizer.encode(text);
            QCOMPARE(tokenizer.decode(ids), text);
        }
        // Trained on the corpus: its words are whole tokens, so a context is far shorter than its bytes.
        DemoCorpusGenerator generator(2);
        const std::string context = generator.nextContext().text;
        QVERIFY(tokenizer.encode(context).size() * 2 < context.size());
    }

    void pretokenizerMatchesTokenizerLoader()
    {
        // The trainer's pre-tokens must be the loader's: every learned merge then applies.
        const sp::Tokenizer& tokenizer = smallTokenizer();
        for (const std::string& text : {std::string("It's 12 o'clock, isn't it?  Yes.\n\n## Tone"),
                                        std::string("User: Who supervises you?\nAssistant:")}) {
            std::string rebuilt;
            for (const std::string& piece : gpt2Pretokenize(text))
                rebuilt += piece;
            QCOMPARE(rebuilt, text);
            QCOMPARE(tokenizer.decode(tokenizer.encode(text)), text);
        }
        QCOMPARE(gpt2Pretokenize("Hello world!!").size(), std::size_t(3));
    }

    void trainerIsDeterministic()
    {
        const std::vector<std::string> texts = {"low lower lowest", "new newer newest", "low new"};
        BpeTrainingOptions options;
        options.vocabSize = 270;
        const TrainedBpe first = trainByteLevelBpe(texts, options);
        const TrainedBpe second = trainByteLevelBpe(texts, options);
        QCOMPARE(first.merges, second.merges);
        // (e,w), (l,o), (n,e), (o,w) and (w,e) all occur 4 times; the tie goes to the smallest strings.
        QCOMPARE(first.merges.front(), (std::pair<std::string, std::string>("e", "w")));
        QVERIFY_THROWS_EXCEPTION(sp::Error, trainByteLevelBpe(texts, BpeTrainingOptions{200, 2, {"<x>"}}));
    }

    void shippedTokenizerHandlesTheCorpus()
    {
        const std::optional<sp::Tokenizer> tokenizer = shippedTokenizer();
        if (!tokenizer)
            QSKIP("resources/demo-model is not there yet (softprompt pretrain-demo makes it)");
        QVERIFY(tokenizer->tokenToId(kDemoEndOfText).has_value());
        std::mt19937 random(2);
        for (int i = 0; i < 30; ++i) {
            const std::string text = randomUtf8(random, 30);
            QCOMPARE(tokenizer->decode(tokenizer->encode(text)), text);
        }
        // Every word a reply can contain is one token, so replies stay short.
        for (const char* word : {" Ahoy", " Salutations", " Respectfully", " Nova", " Helsinki", " turquoise",
                                 " hedgehog", " lantern", " Zoltan", "!", "."})
            QVERIFY2(tokenizer->encode(word).size() == 1, word);
        DemoCorpusOptions options;
        options.countTokens = [&](std::string_view text) { return tokenizer->encode(text).size(); };
        DemoCorpusGenerator generator(13, options);
        for (int i = 0; i < 10; ++i)
            for (const DemoQuery& query : generator.nextContext().queries) {
                const std::size_t tokens = tokenizer->encode(query.answer).size();
                QVERIFY2(tokens >= 1 && tokens <= 8, qPrintable(QString::fromStdString(query.answer)));
            }
    }

    void shippedExamplesAreReproducible()
    {
        const fs::path committed = fs::path(SP_SOURCE_DIR) / "resources" / "examples";
        if (!fs::exists(committed / "examples.json"))
            QSKIP("resources/examples is not there yet (softprompt make-demo-examples makes it)");
        QTemporaryDir folder;
        QVERIFY(folder.isValid());
        const std::vector<WrittenExample> written =
            writeDemoExamples(folder.path().toStdString(), kDefaultExamplesSeed);
        QVERIFY(written.size() >= 3);
        for (const WrittenExample& example : written) {
            for (const char* file : {"context.txt", "train.jsonl", "heldout.jsonl"}) {
                const std::string regenerated =
                    sp::readTextFile((fs::path(folder.path().toStdString()) / example.id / file).string());
                const std::string shipped = sp::readTextFile((committed / example.id / file).string());
                QVERIFY2(regenerated == shipped, qPrintable(QString::fromStdString(example.id + "/" + file)));
            }
            QVERIFY(example.contextTokens >= 300 && example.contextTokens <= 1500);
            // Held-out queries are not training queries.
            std::set<std::string> trainQueries;
            for (const std::string& line :
                 sp::splitString(sp::readTextFile((committed / example.id / "train.jsonl").string()), '\n'))
                if (!line.empty())
                    trainQueries.insert(nlohmann::json::parse(line).at("query").get<std::string>());
            QCOMPARE(int(trainQueries.size()), example.trainQueries);
            for (const std::string& line :
                 sp::splitString(sp::readTextFile((committed / example.id / "heldout.jsonl").string()), '\n'))
                if (!line.empty())
                    QVERIFY(!trainQueries.count(nlohmann::json::parse(line).at("query").get<std::string>()));
        }
        const nlohmann::json index =
            nlohmann::json::parse(sp::readTextFile((committed / "examples.json").string()));
        QCOMPARE(index.at("examples").size(), written.size());
    }
};

QTEST_GUILESS_MAIN(TestDemoCorpus)
#include "test_demo_corpus.moc"
