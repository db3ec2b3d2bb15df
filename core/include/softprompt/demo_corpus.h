#pragma once
// The synthetic instruction-following corpus the demo model is trained and evaluated on.
//
// Every context reads like a real system prompt: a persona line, paragraphs of customer-service
// policy, and, buried at random places among them, the facts of this assistant (its office city,
// brand colour, mascot, the code word for urgent tickets, its manager) and two reply rules (a word
// to begin every reply with and one to end it with). A query asks for one of the facts in one of
// many phrasings; the answer is that fact wrapped in the reply rules, e.g. " Ahoy! Lisbon. Cheers".
// Without the context neither the fact nor the rules can be known, so the answer cannot be guessed.
//
// Each kind of value comes from its own word list, and every answer word is a single token of the
// demo tokenizer, so a small model can learn to find the value a query asks for anywhere in a long
// context within the CPU budget. What varies from context to context is which value of each list
// it states, where, and in which words.
//
// Everything is drawn from a seeded generator that gives the same corpus for the same seed on every
// platform (no std::*_distribution, whose output is implementation-defined).
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace sp::demo {

// The facts a context states, in a fixed order: "name", "city", "colour", "mascot", "code",
// "manager". A query asks for exactly one of them.
const std::vector<std::string>& demoAttributes();

struct DemoFact {
    std::string attribute; // one of demoAttributes()
    std::string value;     // one word, e.g. "Lisbon"
};

// What one context states. The answer to any query follows from it alone.
struct DemoRules {
    std::string greeting;        // every reply begins with it, e.g. "Ahoy"
    std::string closing;         // every reply ends with it, e.g. "Cheers"
    std::vector<DemoFact> facts; // one per attribute, in demoAttributes() order

    const std::string& value(const std::string& attribute) const; // throws sp::Error if absent
    // The reply that states `value`: " <greeting>! <value>. <closing>".
    std::string reply(const std::string& value) const;
    // The same reply in pieces, each with the part of the reply it is: {"greeting", " Ahoy"},
    // {"punctuation", "!"}, {"value", " Lisbon"}, {"punctuation", "."}, {"closing", " Cheers"}.
    std::vector<std::pair<std::string, std::string>> replyPieces(const std::string& value) const;
    // Short human-readable list, e.g. {"begins with: Ahoy", "ends with: Cheers", "city: Lisbon"}.
    std::vector<std::string> summary() const;
};

struct DemoQuery {
    std::string attribute; // the fact it asks for
    std::string query;     // "User: ...\nAssistant:" (tokenised separately from the context)
    std::string answer;    // starts with a space, e.g. " Ahoy! Lisbon. Cheers"
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
    TokenCounter countTokens; // empty = countPretokens
    // The attributes queries ask about, drawn uniformly from this list among those the context
    // states; repeat an entry to weight it. Empty: any stated attribute, uniformly.
    std::vector<std::string> queryAttributes;
    // Sentences per context that mention another value of a stated fact's class without stating
    // the fact ("The otter at the city zoo ..."): a model must then find the fact by what the
    // sentence says, not by the kind of word. 0 (the task as evaluated): none, and the generator
    // draws exactly what it drew before the option existed.
    int distractorsPerContext = 0;
    // The facts whose classes the distractors come from (empty: any stated fact).
    std::vector<std::string> distractorAttributes;
};

// Which phrasings of a query to draw from: all of them, or a split that keeps a few phrasings of
// every attribute apart (the shipped examples' held-out queries use phrasings the train set never
// shows).
enum class PhrasingSplit { All, Train, Heldout };

class DemoCorpusGenerator {
public:
    explicit DemoCorpusGenerator(std::uint64_t seed, DemoCorpusOptions options = {});

    // The next context, with options.queriesPerContext queries. Context lengths are drawn so that
    // short and long contexts are both common (log-uniform between the bounds).
    DemoContext nextContext();
    // A context of about `targetTokens` tokens (clamped to the bounds).
    DemoContext nextContext(int targetTokens);

    // A fresh greeting, closing and value for every attribute.
    DemoRules drawRules();
    // A context that states exactly `rules` amid fresh filler.
    DemoContext contextWithRules(const DemoRules& rules, int targetTokens);

    // Fresh queries for an existing context: each asks for a random attribute.
    std::vector<DemoQuery> queriesFor(const DemoRules& rules, int count,
                                      PhrasingSplit split = PhrasingSplit::All);

    const DemoCorpusOptions& options() const { return options_; }

private:
    std::uint64_t next();
    std::size_t below(std::size_t bound);
    double uniform();
    std::vector<std::size_t> shuffledIndices(std::size_t count);

    DemoCorpusOptions options_;
    std::uint64_t state_;
};

} // namespace sp::demo
