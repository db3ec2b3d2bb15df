#include "softprompt/demo_examples.h"

#include "softprompt/demo_corpus.h"
#include "softprompt/error.h"
#include "softprompt/paths.h"
#include "softprompt/tokenizer.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <set>

namespace fs = std::filesystem;

namespace sp::demo {

namespace {

struct ExampleSpec {
    std::string id;
    std::string title;
    std::string description;
    DemoRules rules;
    int contextTokens = 0;
    double lookupFraction = 0.0;
    int trainQueries = 48;
    int heldoutQueries = 24;
};

std::vector<ExampleSpec> exampleSpecs()
{
    std::vector<ExampleSpec> specs;
    {
        ExampleSpec spec;
        spec.id = "support-capitals";
        spec.title = "Support bot: capitals, greeting and signature";
        spec.description = "A customer-support system prompt of about 900 tokens. Three rules are buried in "
                           "the policy text: write items in capital letters, open every reply with a fixed "
                           "word, and sign with the assistant's name.";
        spec.rules.assistantName = "Nova";
        spec.rules.letterCase = LetterCase::Capitals;
        spec.rules.prefixWord = "Ahoy";
        spec.rules.signWithName = true;
        spec.contextTokens = 900;
        specs.push_back(spec);
    }
    {
        ExampleSpec spec;
        spec.id = "bookshop-reversed";
        spec.title = "Bookshop assistant: title case, reversed order, closing word";
        spec.description = "A bookshop's assistant prompt of about 1200 tokens. Items get a capital first "
                           "letter, come in reverse order, and every reply ends with a fixed word. The first "
                           "word of each reply depends on both the rules and the query.";
        spec.rules.assistantName = "Iris";
        spec.rules.letterCase = LetterCase::Title;
        spec.rules.reversedOrder = true;
        spec.rules.suffixWord = "Cheers";
        spec.contextTokens = 1200;
        specs.push_back(spec);
    }
    {
        ExampleSpec spec;
        spec.id = "bank-glossary";
        spec.title = "Bank assistant: glossary of code words, capitals, closing word";
        spec.description = "A bank's assistant prompt of about 700 tokens with a glossary of invented code "
                           "words. A third of the queries ask what a code word means; the rest ask to format "
                           "items. Facts are harder to compress than rules.";
        spec.rules.assistantName = "Atlas";
        spec.rules.letterCase = LetterCase::Capitals;
        spec.rules.suffixWord = "Understood";
        spec.rules.glossary = {{"zorblitam", "harbor"}, {"quoven", "lantern"}, {"snidrapax", "copper"},
                               {"trofen", "meadow"},    {"kramox", "falcon"},  {"hovjilcre", "velvet"}};
        spec.contextTokens = 700;
        spec.lookupFraction = 0.35;
        specs.push_back(spec);
    }
    return specs;
}

void writeQueries(const std::string& path, const std::vector<DemoQuery>& queries)
{
    std::string text;
    for (const DemoQuery& query : queries)
        text += nlohmann::json{{"query", query.query}, {"target", query.answer}}.dump() + "\n";
    writeTextFile(path, text);
}

} // namespace

std::vector<WrittenExample> writeDemoExamples(const std::string& outDir, std::uint64_t seed)
{
    std::optional<Tokenizer> tokenizer;
    try {
        tokenizer = Tokenizer::fromFile((fs::path(demoModelDirectory()) / "tokenizer.json").string());
    } catch (const Error&) {
        // No demo model yet: lengths are measured in pre-tokens, a lower bound of BPE tokens.
    }
    DemoCorpusOptions options;
    if (tokenizer)
        options.countTokens = [&tokenizer](std::string_view text) { return tokenizer->encode(text).size(); };

    std::error_code error;
    fs::create_directories(outDir, error);
    if (error)
        throw Error(fileError(outDir, "cannot create the folder (" + error.message() + ")"));

    nlohmann::ordered_json index = {{"version", 1}, {"examples", nlohmann::ordered_json::array()}};
    std::vector<WrittenExample> written;
    std::uint64_t exampleSeed = seed;
    for (const ExampleSpec& spec : exampleSpecs()) {
        DemoCorpusGenerator generator(exampleSeed++, options);
        const DemoContext context = generator.contextWithRules(spec.rules, spec.contextTokens);
        // Train and held-out queries never share a query text.
        std::set<std::string> seen;
        std::vector<DemoQuery> train;
        std::vector<DemoQuery> heldout;
        while (int(train.size()) < spec.trainQueries || int(heldout.size()) < spec.heldoutQueries) {
            for (DemoQuery& query : generator.queriesFor(spec.rules, 1, spec.lookupFraction)) {
                if (!seen.insert(query.query).second)
                    continue;
                if (int(train.size()) < spec.trainQueries)
                    train.push_back(std::move(query));
                else
                    heldout.push_back(std::move(query));
            }
        }
        const fs::path folder = fs::path(outDir) / spec.id;
        fs::create_directories(folder, error);
        writeTextFile((folder / "context.txt").string(), context.text);
        writeQueries((folder / "train.jsonl").string(), train);
        writeQueries((folder / "heldout.jsonl").string(), heldout);

        WrittenExample example;
        example.id = spec.id;
        example.contextTokens =
            int(options.countTokens ? options.countTokens(context.text) : countPretokens(context.text));
        example.trainQueries = int(train.size());
        example.heldoutQueries = int(heldout.size());
        written.push_back(example);
        index["examples"].push_back({{"id", spec.id},
                                     {"title", spec.title},
                                     {"description", spec.description},
                                     {"rules", spec.rules.summary()},
                                     {"context", spec.id + "/context.txt"},
                                     {"train", spec.id + "/train.jsonl"},
                                     {"heldout", spec.id + "/heldout.jsonl"},
                                     {"context_tokens", example.contextTokens}});
    }
    index["regenerate"] =
        "softprompt make-demo-examples --out resources/examples --seed " + std::to_string(seed);
    writeTextFile((fs::path(outDir) / "examples.json").string(), index.dump(2) + "\n");
    return written;
}

} // namespace sp::demo
