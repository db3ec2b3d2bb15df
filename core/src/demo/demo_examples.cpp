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
    int trainQueries = 48;
    int heldoutQueries = 24;
};

DemoRules exampleRules(const std::string& greeting, const std::string& closing,
                       const std::vector<std::string>& values)
{
    DemoRules rules;
    rules.greeting = greeting;
    rules.closing = closing;
    for (std::size_t i = 0; i < demoAttributes().size(); ++i)
        rules.facts.push_back({demoAttributes()[i], values.at(i)});
    return rules;
}

std::vector<ExampleSpec> exampleSpecs()
{
    std::vector<ExampleSpec> specs;
    {
        ExampleSpec spec;
        spec.id = "support-lisbon";
        spec.title = "Support bot in Lisbon (about 900 tokens)";
        spec.description = "A customer-support system prompt of about 900 tokens. Six facts (the assistant's "
                           "name, office city, brand colour, mascot, urgent code word and manager) and two "
                           "reply rules (open with Ahoy, close with Cheers) are buried in the policy text.";
        spec.rules = exampleRules("Ahoy", "Cheers", {"Nova", "Lisbon", "teal", "otter", "lantern", "Priya"});
        spec.contextTokens = 900;
        specs.push_back(spec);
    }
    {
        ExampleSpec spec;
        spec.id = "travel-oslo";
        spec.title = "Travel agency assistant in Oslo (about 1400 tokens)";
        spec.description =
            "A long travel-agency prompt of about 1400 tokens: the same kinds of facts and rules "
            "as the support bot, spread thinly over almost the whole window of the demo model.";
        spec.rules =
            exampleRules("Howdy", "Farewell", {"Iris", "Oslo", "crimson", "penguin", "rocket", "Marcus"});
        spec.contextTokens = 1400;
        specs.push_back(spec);
    }
    {
        ExampleSpec spec;
        spec.id = "bank-vienna";
        spec.title = "Bank assistant in Vienna (about 450 tokens)";
        spec.description = "A short bank prompt of about 450 tokens. Fewer filler sentences, the same eight "
                           "things to remember: compare how fast each compresses into k vectors.";
        spec.rules =
            exampleRules("Greetings", "Regards", {"Atlas", "Vienna", "navy", "badger", "glacier", "Ingrid"});
        spec.contextTokens = 450;
        specs.push_back(spec);
    }
    return specs;
}

// The user's words only: the demo model's chat template (resources/demo-model/tokenizer_config.json)
// adds "User: " before them and "\nAssistant:" after, as the corpus writes its queries.
std::string userWords(const std::string& query)
{
    const std::string opening = "User: ", closing = "\nAssistant:";
    std::string words = query;
    if (words.rfind(opening, 0) == 0)
        words.erase(0, opening.size());
    if (words.size() >= closing.size() && words.compare(words.size() - closing.size(), closing.size(), closing) == 0)
        words.erase(words.size() - closing.size());
    return words;
}

void writeQueries(const std::string& path, const std::vector<DemoQuery>& queries)
{
    std::string text;
    for (const DemoQuery& query : queries)
        text += nlohmann::json{{"query", userWords(query.query)}, {"target", query.answer}}.dump() + "\n";
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
            // Held-out queries use phrasings that the train set never shows.
            const bool wantTrain = int(train.size()) < spec.trainQueries;
            for (DemoQuery& query : generator.queriesFor(
                     spec.rules, 1, wantTrain ? PhrasingSplit::Train : PhrasingSplit::Heldout)) {
                if (!seen.insert(query.query).second)
                    continue;
                (wantTrain ? train : heldout).push_back(std::move(query));
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
        index["examples"].push_back(
            {{"id", spec.id},
             {"title", spec.title},
             {"description", spec.description},
             {"rules", spec.rules.summary()},
             {"context", spec.id + "/context.txt"},
             {"train", spec.id + "/train.jsonl"},
             {"heldout", spec.id + "/heldout.jsonl"},
             {"context_tokens", example.contextTokens},
             // The whole reply (greeting, fact, closing and end) is what σ
             // must carry; the next token alone is only the greeting.
             {"training", {{"target", "continuation"}, {"length", 6}, {"steps", 300}}}});
    }
    index["regenerate"] =
        "softprompt make-demo-examples --out resources/examples --seed " + std::to_string(seed);
    writeTextFile((fs::path(outDir) / "examples.json").string(), index.dump(2) + "\n");
    return written;
}

} // namespace sp::demo
