#pragma once
// The synthetic instruction-following corpus the demo model is trained and evaluated on.
//
// Every context reads like a real system prompt: a persona line, paragraphs of policy filler, and a
// few formatting rules buried among them (capital letters, title case, reversed order, a word to
// begin or end every reply with, a signature with the persona's name), sometimes a glossary of
// invented words. A query asks the assistant to format some items or to define a glossary word;
// the answer is those items (or that meaning) with every rule of the context applied. Without the
// context the rules are unknown, so the answer cannot be guessed.
//
// Everything is drawn from a seeded generator that gives the same corpus for the same seed on every
// platform (no std::*_distribution, whose output is implementation-defined).
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace sp::demo {

enum class QueryKind {
    Format, // "format these items": the answer is the query's items with the rules applied
    Lookup, // "what does <glossary word> mean?": the answer is its meaning with the rules applied
};
std::string queryKindKey(QueryKind kind); // "format", "lookup"

enum class LetterCase { AsGiven, Capitals, Title };

// The rules one context states. The answer to any query follows from them alone.
struct DemoRules {
    std::string assistantName; // from the persona line
    LetterCase letterCase = LetterCase::AsGiven;
    bool reversedOrder = false;
    std::string prefixWord;                                    // "" = none
    std::string suffixWord;                                    // "" = none
    bool signWithName = false;                                 // the reply ends with " - <assistantName>"
    std::vector<std::pair<std::string, std::string>> glossary; // invented word -> meaning

    // The reply to a request whose content words are `items`.
    std::string apply(const std::vector<std::string>& items) const;
    // Short human-readable list, e.g. {"capitals", "prefix: Ahoy", "sign: Nova"}.
    std::vector<std::string> summary() const;
};

struct DemoQuery {
    QueryKind kind = QueryKind::Format;
    std::string query;  // "User: ...\nAssistant:" (tokenised separately from the context)
    std::string answer; // starts with a space, e.g. " Ahoy RED LAMP"
};

struct DemoContext {
    std::string text; // the long context; ends with a newline
    DemoRules rules;
    std::vector<DemoQuery> queries;
};

// Counts the tokens of a text under the tokenizer the contexts are measured with.
using TokenCounter = std::function<std::size_t(std::string_view)>;
// A stand-in for the demo tokenizer before it exists: the number of GPT-2 pre-tokens (words,
// numbers, punctuation runs, whitespace runs). A byte-level BPE never yields fewer tokens.
std::size_t countPretokens(std::string_view text);

struct DemoCorpusOptions {
    int minContextTokens = 300;
    int maxContextTokens = 1500;
    int queriesPerContext = 8;
    double lookupFraction = 0.25;     // share of queries that ask for a glossary word
    double glossaryProbability = 0.6; // share of contexts with a glossary
    TokenCounter countTokens;         // empty = countPretokens
};

class DemoCorpusGenerator {
public:
    explicit DemoCorpusGenerator(std::uint64_t seed, DemoCorpusOptions options = {});

    // The next context, with options.queriesPerContext queries. Context lengths are drawn so that
    // short and long contexts are both common (log-uniform between the bounds).
    DemoContext nextContext();
    // A context of about `targetTokens` tokens (clamped to the bounds).
    DemoContext nextContext(int targetTokens);

    // Rules as nextContext() draws them: a persona, at least two rules that change every reply,
    // sometimes a glossary.
    DemoRules drawRules();
    // A context that states exactly `rules` (persona, rules and glossary) amid fresh filler.
    DemoContext contextWithRules(const DemoRules& rules, int targetTokens);

    // Fresh queries for an existing context (the same rules and glossary).
    std::vector<DemoQuery> queriesFor(const DemoRules& rules, int count, double lookupFraction);

    const DemoCorpusOptions& options() const { return options_; }

private:
    std::uint64_t next();
    std::size_t below(std::size_t bound);
    double uniform();
    std::vector<std::size_t> shuffledIndices(std::size_t count);

    DemoCorpusOptions options_;
    std::uint64_t state_;
};

// The exact text the model is trained and evaluated on: context, then query, then answer, each
// tokenised on its own and concatenated (the way the engine joins a context and a query).
std::string joinForDisplay(const DemoContext& context, const DemoQuery& query);

} // namespace sp::demo
