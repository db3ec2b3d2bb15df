#include "softprompt/demo_corpus.h"

#include "demo/byte_level_bpe.h"
#include "demo/demo_vocabulary.h"
#include "softprompt/error.h"

#include <algorithm>
#include <cmath>
#include <set>

namespace sp::demo {

namespace vocab = vocabulary;

const std::vector<std::string>& demoAttributes()
{
    static const std::vector<std::string> list = {"name", "city", "colour", "mascot", "code", "manager"};
    return list;
}

namespace {

std::string toTitle(std::string text)
{
    if (!text.empty() && text[0] >= 'a' && text[0] <= 'z')
        text[0] = char(text[0] - 'a' + 'A');
    return text;
}

// Replaces every "{key}" by its value; unknown keys stay as they are.
std::string fillSlots(std::string_view pattern, const std::vector<std::pair<std::string, std::string>>& slots)
{
    std::string out;
    std::size_t i = 0;
    while (i < pattern.size()) {
        if (pattern[i] == '{') {
            const std::size_t close = pattern.find('}', i);
            if (close != std::string_view::npos) {
                const std::string_view key = pattern.substr(i + 1, close - i - 1);
                bool replaced = false;
                for (const auto& [name, value] : slots)
                    if (name == key) {
                        out += value;
                        replaced = true;
                        break;
                    }
                if (replaced) {
                    i = close + 1;
                    continue;
                }
            }
        }
        out += pattern[i++];
    }
    return out;
}

// splitmix64: the generator's only source of randomness.
std::uint64_t splitmix(std::uint64_t& state)
{
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// One piece of context text in reading order: a sentence, or a block that stands on its own lines.
struct Piece {
    std::string text;
    bool startsParagraph = false; // sentences only
    std::string heading;          // printed before a paragraph that starts here ("" = none)
};

std::string renderPieces(const std::string& persona, const std::vector<Piece>& pieces)
{
    std::string text = persona;
    bool atParagraphStart = false;
    for (const Piece& piece : pieces) {
        if (piece.startsParagraph || atParagraphStart) {
            text += "\n\n";
            if (!piece.heading.empty())
                text += piece.heading + "\n";
            text += piece.text;
        } else {
            text += " " + piece.text;
        }
        atParagraphStart = false;
    }
    return text + "\n";
}

} // namespace

const std::string& DemoRules::value(const std::string& attribute) const
{
    for (const DemoFact& fact : facts)
        if (fact.attribute == attribute)
            return fact.value;
    throw Error("demo corpus: the context states no value for \"" + attribute + "\"");
}

std::vector<std::pair<std::string, std::string>> DemoRules::replyPieces(const std::string& factValue) const
{
    return {{"greeting", " " + greeting},
            {"punctuation", "!"},
            {"value", " " + factValue},
            {"punctuation", "."},
            {"closing", " " + closing}};
}

std::string DemoRules::reply(const std::string& factValue) const
{
    std::string text;
    for (const auto& [part, piece] : replyPieces(factValue))
        text += piece;
    return text;
}

std::vector<std::string> DemoRules::summary() const
{
    std::vector<std::string> parts = {"begins with: " + greeting, "ends with: " + closing};
    for (const DemoFact& fact : facts)
        parts.push_back(fact.attribute + ": " + fact.value);
    return parts;
}

std::size_t countPretokens(std::string_view text)
{
    return gpt2Pretokenize(text).size();
}

DemoCorpusGenerator::DemoCorpusGenerator(std::uint64_t seed, DemoCorpusOptions options)
    : options_(std::move(options)), state_(seed ^ 0x5DEECE66Dull)
{
    if (options_.minContextTokens < 1 || options_.maxContextTokens < options_.minContextTokens)
        throw Error("demo corpus: context token bounds must satisfy 1 <= min <= max (got " +
                    std::to_string(options_.minContextTokens) + ", " +
                    std::to_string(options_.maxContextTokens) + ")");
    if (!options_.countTokens)
        options_.countTokens = countPretokens;
}

std::uint64_t DemoCorpusGenerator::next()
{
    return splitmix(state_);
}

std::size_t DemoCorpusGenerator::below(std::size_t bound)
{
    // Lemire's multiply-shift: the same value on every platform, with negligible bias for our bounds.
    return std::size_t((static_cast<unsigned __int128>(next()) * bound) >> 64);
}

double DemoCorpusGenerator::uniform()
{
    return double(next() >> 11) * 0x1.0p-53;
}

std::vector<std::size_t> DemoCorpusGenerator::shuffledIndices(std::size_t count)
{
    std::vector<std::size_t> order(count);
    for (std::size_t i = 0; i < count; ++i)
        order[i] = i;
    for (std::size_t i = count; i > 1; --i) // Fisher-Yates
        std::swap(order[i - 1], order[below(i)]);
    return order;
}

std::vector<DemoQuery> DemoCorpusGenerator::queriesFor(const DemoRules& rules, int count, PhrasingSplit split)
{
    std::vector<DemoQuery> queries;
    // Indices into rules.facts, one per entry of queryAttributes that the context states.
    std::vector<std::size_t> weighted;
    for (const std::string& attribute : options_.queryAttributes)
        for (std::size_t f = 0; f < rules.facts.size(); ++f)
            if (rules.facts[f].attribute == attribute)
                weighted.push_back(f);
    for (int q = 0; q < count; ++q) {
        const DemoFact& fact = weighted.empty() ? rules.facts[below(rules.facts.size())]
                                                : rules.facts[weighted[below(weighted.size())]];
        const auto& phrasings = vocab::questions(fact.attribute);
        const std::size_t trainCount = phrasings.size() - vocab::kHeldoutPhrasings;
        std::size_t phrasing = 0;
        switch (split) {
        case PhrasingSplit::All:
            phrasing = below(phrasings.size());
            break;
        case PhrasingSplit::Train:
            phrasing = below(trainCount);
            break;
        case PhrasingSplit::Heldout:
            phrasing = trainCount + below(vocab::kHeldoutPhrasings);
            break;
        }
        const auto& openers = vocab::questionOpeners();
        DemoQuery query;
        query.attribute = fact.attribute;
        query.query = "User: " + std::string(openers[below(openers.size())]) +
                      std::string(phrasings[phrasing]) + "\nAssistant:";
        query.answer = rules.reply(fact.value);
        queries.push_back(std::move(query));
    }
    return queries;
}

DemoContext DemoCorpusGenerator::nextContext()
{
    const double low = std::log(double(options_.minContextTokens));
    const double high = std::log(double(options_.maxContextTokens));
    return nextContext(int(std::lround(std::exp(low + (high - low) * uniform()))));
}

DemoContext DemoCorpusGenerator::nextContext(int targetTokens)
{
    return contextWithRules(drawRules(), targetTokens);
}

DemoRules DemoCorpusGenerator::drawRules()
{
    auto pick = [this](const std::vector<std::string_view>& list) {
        return std::string(list[below(list.size())]);
    };
    DemoRules rules;
    rules.greeting = pick(vocab::greetings());
    rules.closing = pick(vocab::closings());
    for (const std::string& attribute : demoAttributes())
        rules.facts.push_back({attribute, pick(vocab::valuesOf(attribute))});
    return rules;
}

DemoContext DemoCorpusGenerator::contextWithRules(const DemoRules& givenRules, int targetTokens)
{
    targetTokens = std::clamp(targetTokens, options_.minContextTokens, options_.maxContextTokens);
    auto pick = [this](const std::vector<std::string_view>& list) {
        return std::string(list[below(list.size())]);
    };
    DemoContext context;
    context.rules = givenRules;
    const DemoRules& rules = context.rules;
    if (rules.greeting.empty() || rules.closing.empty() || rules.facts.empty())
        throw Error("demo corpus: the rules need a greeting, a closing and at least one fact");
    std::string assistantName = "Nova";
    std::string city = pick(vocab::cities());
    for (const DemoFact& fact : rules.facts) {
        if (fact.value.empty() || fact.value.find_first_of(" \n") != std::string::npos)
            throw Error("demo corpus: the value of \"" + fact.attribute + "\" must be one word (got \"" +
                        fact.value + "\")");
        if (fact.attribute == "name")
            assistantName = fact.value;
        if (fact.attribute == "city")
            city = fact.value;
    }

    // Two draws in one expression (stem + ending) happen in an order each compiler picks: GCC draws
    // the ending first, clang the stem. The shipped examples and the demo model were made with GCC's.
    const std::string companyEnding = pick(vocab::companyEndings());
    const std::string companyStem = pick(vocab::companyStems());
    // The filler mentions the context's own city, so the city it states is never contradicted.
    const std::vector<std::pair<std::string, std::string>> slots = {{"name", assistantName},
                                                                    {"company", companyStem + companyEnding},
                                                                    {"industry", pick(vocab::industries())},
                                                                    {"city", city}};
    const std::string persona = fillSlots(pick(vocab::personaLines()), slots);

    // The reply rules and the facts, each as one sentence in the flow of the filler.
    std::vector<std::string> ruleSentences;
    auto withSlot = [&](const std::vector<std::string_view>& phrasings, const char* slot,
                        const std::string& word) {
        return fillSlots(phrasings[below(phrasings.size())], {{slot, word}});
    };
    ruleSentences.push_back(withSlot(vocab::greetingRules(), "word", rules.greeting));
    ruleSentences.push_back(withSlot(vocab::closingRules(), "word", rules.closing));
    for (const DemoFact& fact : rules.facts)
        ruleSentences.push_back(withSlot(vocab::factSentences(fact.attribute), "value", fact.value));
    std::vector<const DemoFact*> distractorFacts;
    for (const DemoFact& fact : rules.facts)
        if (options_.distractorAttributes.empty() ||
            std::find(options_.distractorAttributes.begin(), options_.distractorAttributes.end(),
                      fact.attribute) != options_.distractorAttributes.end())
            distractorFacts.push_back(&fact);
    for (int d = 0; d < options_.distractorsPerContext && !distractorFacts.empty(); ++d) {
        const DemoFact& fact = *distractorFacts[below(distractorFacts.size())];
        const auto& values = vocab::valuesOf(fact.attribute);
        std::string other = fact.value;
        while (other == fact.value) // another word of the class, never the stated value
            other = std::string(values[below(values.size())]);
        ruleSentences.push_back(withSlot(vocab::distractorSentences(fact.attribute), "value", other));
    }

    // Filler sentences, more than any context needs; only a prefix of them is used. Templates are
    // drawn without repetition until the list is used up, as a real prompt rarely repeats itself.
    const int countUpperBound = options_.maxContextTokens / 6 + 8;
    const auto& templates = vocab::fillerSentences();
    const auto& headings = vocab::sectionHeadings();
    std::vector<std::size_t> templateOrder = shuffledIndices(templates.size());
    std::vector<std::size_t> headingOrder = shuffledIndices(headings.size());
    std::size_t headingsUsed = 0;
    std::vector<Piece> filler;
    for (int i = 0; i < countUpperBound; ++i) {
        const auto& days = vocab::weekdays();
        std::vector<std::pair<std::string, std::string>> sentenceSlots = slots;
        sentenceSlots.push_back({"product", pick(vocab::products())});
        sentenceSlots.push_back({"team", pick(vocab::teams())});
        sentenceSlots.push_back({"day", std::string(days[below(days.size())])});
        sentenceSlots.push_back({"day2", std::string(days[below(days.size())])});
        sentenceSlots.push_back({"hour", std::to_string(7 + below(5)) + " o'clock"});
        sentenceSlots.push_back({"number", std::to_string(2 + below(29))});
        sentenceSlots.push_back({"year", std::to_string(1950 + below(72))});
        sentenceSlots.push_back({"percent", std::to_string(10 + below(85))});
        Piece piece;
        piece.text = fillSlots(templates[templateOrder[std::size_t(i) % templates.size()]], sentenceSlots);
        piece.text = toTitle(piece.text); // a slot such as "the Pro tier" may open the sentence
        piece.startsParagraph = i == 0 || uniform() < 0.3;
        if (piece.startsParagraph && uniform() < 0.35)
            piece.heading = headings[headingOrder[headingsUsed++ % headings.size()]];
        filler.push_back(std::move(piece));
    }
    // Where the rules go, as fractions of the filler used.
    std::vector<double> rulePositions;
    for (std::size_t r = 0; r < ruleSentences.size(); ++r)
        rulePositions.push_back(uniform());

    auto assemble = [&](std::size_t fillerCount) {
        std::vector<Piece> pieces(filler.begin(), filler.begin() + std::ptrdiff_t(fillerCount));
        // Insert from the back so earlier insertion points stay valid.
        std::vector<std::pair<std::size_t, Piece>> inserts;
        for (std::size_t r = 0; r < ruleSentences.size(); ++r) {
            Piece rule;
            rule.text = ruleSentences[r];
            inserts.emplace_back(std::size_t(rulePositions[r] * double(fillerCount + 1)), rule);
        }
        std::stable_sort(inserts.begin(), inserts.end(),
                         [](const auto& a, const auto& b) { return a.first > b.first; });
        for (auto& [position, piece] : inserts)
            pieces.insert(pieces.begin() + std::ptrdiff_t(std::min(position, pieces.size())), piece);
        return renderPieces(persona, pieces);
    };

    // Grow the filler until the target is reached, then back off while over the maximum.
    std::size_t fillerCount = 0;
    std::string text = assemble(0);
    const std::size_t fixedTokens = options_.countTokens(text);
    std::size_t tokens = fixedTokens;
    while (tokens < std::size_t(targetTokens) && fillerCount < filler.size()) {
        // Steps of 90% of the sentences still missing, at the mean sentence length so far.
        std::size_t step = 4; // the first step measures the sentence length
        if (fillerCount > 0) {
            const double perSentence = std::max(1.0, double(tokens - fixedTokens) / double(fillerCount));
            const double missing = double(std::size_t(targetTokens) - tokens) / perSentence;
            step = std::max<std::size_t>(1, std::size_t(0.9 * missing));
        }
        fillerCount = std::min(filler.size(), fillerCount + step);
        text = assemble(fillerCount);
        tokens = options_.countTokens(text);
    }
    while (tokens > std::size_t(options_.maxContextTokens) && fillerCount > 0) {
        text = assemble(--fillerCount);
        tokens = options_.countTokens(text);
    }
    if (tokens < std::size_t(options_.minContextTokens) || tokens > std::size_t(options_.maxContextTokens))
        throw Error("demo corpus: could not build a context of " + std::to_string(options_.minContextTokens) +
                    "-" + std::to_string(options_.maxContextTokens) + " tokens (got " +
                    std::to_string(tokens) + "); widen the bounds");
    context.text = std::move(text);
    context.queries = queriesFor(rules, options_.queriesPerContext);
    return context;
}

} // namespace sp::demo
