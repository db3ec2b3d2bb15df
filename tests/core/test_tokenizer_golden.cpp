// Golden sets: the ids that Hugging Face transformers itself produced (../shared/fixtures/tokenizers).
//  - swift-transformers' multilingual conformance set: 83 texts for GPT-2, Qwen2.5 and TinyLlama,
//    with the tokens and both decodes;
//  - llama.cpp's vocab test vectors: 46 texts each for gpt-2, llama-spm, qwen2, llama-bpe (Llama 3,
//    the case that needs ignore_merges) and deepseek-r1-qwen.
// Every row must match exactly.
#include "test_tokenizer_support.h"

#include "softprompt/tokenizer.h"

#include <nlohmann/json.hpp>

#include <QtTest>

#include <map>
#include <memory>

namespace {

using nlohmann::json;

// Where each golden set's tokenizer.json comes from: "shared:" (the fixtures) or the npm cache.
QString tokenizerSource(const QString& key)
{
    if (key == QLatin1String("tinyllama"))
        return sptest::sharedFixture(QStringLiteral("tokenizers/tinyllama-tokenizer.json"));
    return sptest::referenceTokenizerPath(key);
}

// The npm tokenizers' rows are left out (with a message) only when node/npm are missing; when they
// are installed, a missing file fails the test.
bool tokenizerAvailable(const QString& key)
{
    if (key == QLatin1String("tinyllama"))
        return true;
    QString failure;
    const bool available = sptest::referenceFileAvailable(sptest::referenceTokenizerPath(key), failure);
    if (!failure.isEmpty())
        QTest::qFail(qPrintable(failure), __FILE__, __LINE__);
    return available;
}

const sp::Tokenizer& loadTokenizer(const QString& key)
{
    static std::map<QString, std::unique_ptr<sp::Tokenizer>> cache;
    auto& slot = cache[key];
    if (!slot)
        slot = std::make_unique<sp::Tokenizer>(sp::Tokenizer::fromFile(tokenizerSource(key).toStdString()));
    return *slot;
}

std::vector<std::int32_t> idsOf(const json& array)
{
    std::vector<std::int32_t> ids;
    for (const json& id : array)
        ids.push_back(id.get<std::int32_t>());
    return ids;
}

QString idsText(const std::vector<std::int32_t>& ids)
{
    QStringList parts;
    for (const std::int32_t id : ids)
        parts << QString::number(id);
    return parts.join(QLatin1Char(' '));
}

// llama.cpp's .inp/.out pair: texts separated by "\n__ggml_vocab_test__\n", one id line per text.
std::vector<std::pair<std::string, std::vector<std::int32_t>>> readLlamaCppSet(const QString& base)
{
    const std::string input = sptest::readFileBytes(base + QStringLiteral(".inp"));
    const std::string output = sptest::readFileBytes(base + QStringLiteral(".out"));
    const std::string separator = "\n__ggml_vocab_test__\n";
    std::vector<std::string> texts;
    for (std::size_t pos = 0;;) {
        const std::size_t found = input.find(separator, pos);
        if (found == std::string::npos)
            break;
        texts.push_back(input.substr(pos, found - pos));
        pos = found + separator.size();
    }
    std::vector<std::pair<std::string, std::vector<std::int32_t>>> cases;
    std::size_t pos = 0;
    for (const std::string& text : texts) {
        const std::size_t end = output.find('\n', pos);
        const std::string line = output.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
        pos = end == std::string::npos ? output.size() : end + 1;
        std::vector<std::int32_t> ids;
        std::size_t start = 0;
        while (start < line.size()) {
            const std::size_t space = line.find(' ', start);
            const std::string item =
                line.substr(start, space == std::string::npos ? std::string::npos : space - start);
            if (!item.empty())
                ids.push_back(std::stoi(item));
            if (space == std::string::npos)
                break;
            start = space + 1;
        }
        cases.emplace_back(text, ids);
    }
    return cases;
}

} // namespace

class TokenizerGoldenTest : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void conformance_data()
    {
        SP_REQUIRE_SHARED_FIXTURE(inputsPath, QStringLiteral("tokenizers/conformance/inputs.json"));
        SP_REQUIRE_SHARED_FIXTURE(tinyllama, QStringLiteral("tokenizers/tinyllama-tokenizer.json"));
        QTest::addColumn<QString>("tokenizer");
        QTest::addColumn<QByteArray>("text");
        QTest::addColumn<QByteArray>("expected"); // the transformers entry, as JSON

        std::map<std::string, std::string> texts;
        for (const json& input : json::parse(sptest::readFileBytes(inputsPath)))
            texts[input.at("id").get<std::string>()] = input.at("text").get<std::string>();
        for (const char* set : {"gpt2", "qwen2_5", "tinyllama"}) {
            if (!tokenizerAvailable(QString::fromLatin1(set)))
                continue;
            const QString path =
                sptest::sharedFixture(QStringLiteral("tokenizers/conformance/%1_multilingual.json").arg(set));
            QVERIFY2(!path.isEmpty(), set);
            const json golden = json::parse(sptest::readFileBytes(path));
            QCOMPARE(golden.at("entries").size(), std::size_t{83});
            for (const json& entry : golden.at("entries")) {
                const std::string id = entry.at("id").get<std::string>();
                QVERIFY2(texts.count(id) == 1, id.c_str());
                const std::string& text = texts[id];
                QTest::newRow(qPrintable(QStringLiteral("%1/%2").arg(set, QString::fromStdString(id))))
                    << QString::fromLatin1(set) << QByteArray(text.data(), static_cast<int>(text.size()))
                    << QByteArray::fromStdString(entry.dump());
            }
        }
    }

    // transformers encodes with add_special_tokens=True: TinyLlama's template adds <s>.
    void conformance()
    {
        QFETCH(QString, tokenizer);
        QFETCH(QByteArray, text);
        QFETCH(QByteArray, expected);
        const sp::Tokenizer& tok = loadTokenizer(tokenizer);
        const json entry = json::parse(expected.toStdString());
        const std::vector<std::int32_t> want = idsOf(entry.at("input_ids"));
        const std::vector<std::int32_t> ids = tok.encode(text.toStdString(), true);
        QCOMPARE(idsText(ids), idsText(want));
        for (std::size_t i = 0; i < ids.size(); ++i)
            QCOMPARE(QString::fromStdString(tok.idToToken(ids[i])),
                     QString::fromStdString(entry.at("tokens")[i].get<std::string>()));
        QCOMPARE(QString::fromStdString(tok.decode(ids, false)),
                 QString::fromStdString(entry.at("decoded_with_special").get<std::string>()));
        QCOMPARE(QString::fromStdString(tok.decode(ids, true)),
                 QString::fromStdString(entry.at("decoded_skip_special").get<std::string>()));
    }

    void llamaCpp_data()
    {
        SP_REQUIRE_SHARED_FIXTURE(folder, QStringLiteral("tokenizers/llama.cpp"));
        SP_REQUIRE_SHARED_FIXTURE(tinyllama, QStringLiteral("tokenizers/tinyllama-tokenizer.json"));
        QTest::addColumn<QString>("tokenizer");
        QTest::addColumn<QByteArray>("text");
        QTest::addColumn<QString>("expected");
        // llama.cpp vocab name -> tokenizer.json (the fixtures README names each source model).
        const std::pair<const char*, const char*> sets[] = {{"gpt-2", "gpt2"},
                                                            {"llama-spm", "tinyllama"},
                                                            {"qwen2", "qwen2_5"},
                                                            {"llama-bpe", "llama3"},
                                                            {"deepseek-r1-qwen", "qwen2_5"}};
        for (const auto& [vocab, tokenizer] : sets) {
            if (!tokenizerAvailable(QString::fromLatin1(tokenizer)))
                continue;
            const auto cases = readLlamaCppSet(folder + QStringLiteral("/ggml-vocab-%1.gguf").arg(vocab));
            QCOMPARE(cases.size(), std::size_t{46});
            for (std::size_t i = 0; i < cases.size(); ++i)
                QTest::newRow(qPrintable(QStringLiteral("%1/%2").arg(vocab).arg(i)))
                    << QString::fromLatin1(tokenizer)
                    << QByteArray(cases[i].first.data(), static_cast<int>(cases[i].first.size()))
                    << idsText(cases[i].second);
        }
    }

    // llama.cpp recorded AutoTokenizer.encode(text, add_special_tokens=False).
    void llamaCpp()
    {
        QFETCH(QString, tokenizer);
        QFETCH(QByteArray, text);
        QFETCH(QString, expected);
        QCOMPARE(idsText(loadTokenizer(tokenizer).encode(text.toStdString(), false)), expected);
    }
};

QTEST_GUILESS_MAIN(TokenizerGoldenTest)
#include "test_tokenizer_golden.moc"
