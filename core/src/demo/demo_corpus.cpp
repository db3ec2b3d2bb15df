#include "softprompt/demo_corpus.h"

#include "demo/byte_level_bpe.h"
#include "demo/demo_vocabulary.h"
#include "softprompt/error.h"

#include <algorithm>
#include <cmath>
#include <set>

namespace sp::demo {

namespace vocab = vocabulary;

std::string queryKindKey(QueryKind kind)
{
    return kind == QueryKind::Format ? "format" : "lookup";
}

namespace {

std::string toUpper(std::string text)
{
    for (char& c : text)
        if (c >= 'a' && c <= 'z')
            c = char(c - 'a' + 'A');
    return text;
}

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
    bool block = false;           // a glossary block: its own paragraph
    bool startsParagraph = false; // sentences only
    std::string heading;          // printed before a paragraph that starts here ("" = none)
};

std::string renderPieces(const std::string& persona, const std::vector<Piece>& pieces)
{
    std::string text = persona;
    bool atParagraphStart = false;
    for (const Piece& piece : pieces) {
        if (piece.block) {
            text += "\n\n" + piece.text;
            atParagraphStart = true;
            continue;
        }
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

std::string DemoRules::apply(const std::vector<std::string>& items) const
{
    std::vector<std::string> words = items;
    if (reversedOrder)
        std::reverse(words.begin(), words.end());
    std::string reply;
    if (!prefixWord.empty())
        reply += " " + prefixWord;
    for (const std::string& word : words) {
        switch (letterCase) {
        case LetterCase::AsGiven:
            reply += " " + word;
            break;
        case LetterCase::Capitals:
            reply += " " + toUpper(word);
            break;
        case LetterCase::Title:
            reply += " " + toTitle(word);
            break;
        }
    }
    if (!suffixWord.empty())
        reply += " " + suffixWord;
    if (signWithName)
        reply += " - " + assistantName;
    return reply;
}

std::vector<std::string> DemoRules::summary() const
{
    std::vector<std::string> parts;
    if (letterCase == LetterCase::Capitals)
        parts.push_back("capitals");
    if (letterCase == LetterCase::Title)
        parts.push_back("title case");
    if (reversedOrder)
        parts.push_back("reversed");
    if (!prefixWord.empty())
        parts.push_back("prefix: " + prefixWord);
    if (!suffixWord.empty())
        parts.push_back("suffix: " + suffixWord);
    if (signWithName)
        parts.push_back("sign: " + assistantName);
    if (!glossary.empty())
        parts.push_back("glossary: " + std::to_string(glossary.size()) + " words");
    return parts;
}

std::size_t countPretokens(std::string_view text)
{
    return gpt2Pretokenize(text).size();
}

std::string joinForDisplay(const DemoContext& context, const DemoQuery& query)
{
    return context.text + query.query + query.answer;
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

std::vector<DemoQuery> DemoCorpusGenerator::queriesFor(const DemoRules& rules, int count,
                                                       double lookupFraction)
{
    const auto& itemPool = vocab::items();
    std::vector<DemoQuery> queries;
    for (int q = 0; q < count; ++q) {
        DemoQuery query;
        if (!rules.glossary.empty() && uniform() < lookupFraction) {
            const auto& [term, meaning] = rules.glossary[below(rules.glossary.size())];
            const auto& requests = vocab::lookupRequests();
            query.kind = QueryKind::Lookup;
            query.query = fillSlots(requests[below(requests.size())], {{"term", term}});
            query.answer = rules.apply({meaning});
        } else {
            const std::size_t itemCount = 1 + below(2);
            std::vector<std::string> words;
            while (words.size() < itemCount) {
                std::string word(itemPool[below(itemPool.size())]);
                if (std::find(words.begin(), words.end(), word) == words.end())
                    words.push_back(word);
            }
            std::string joined;
            for (const std::string& word : words)
                joined += (joined.empty() ? "" : " ") + word;
            const auto& requests = vocab::formatRequests();
            query.kind = QueryKind::Format;
            query.query = fillSlots(requests[below(requests.size())], {{"items", joined}});
            query.answer = rules.apply(words);
        }
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
    rules.assistantName = pick(vocab::assistantNames());
    // At least two rules that change every reply, so that no reply can be guessed without the context.
    for (;;) {
        const double caseDraw = uniform();
        rules.letterCase = caseDraw < 0.4   ? LetterCase::Capitals
                           : caseDraw < 0.7 ? LetterCase::Title
                                            : LetterCase::AsGiven;
        rules.reversedOrder = uniform() < 0.35;
        rules.prefixWord = uniform() < 0.6 ? pick(vocab::replyWords()) : "";
        const double endDraw = uniform();
        rules.suffixWord = endDraw < 0.4 ? pick(vocab::replyWords()) : "";
        rules.signWithName = endDraw >= 0.4 && endDraw < 0.65;
        if (rules.suffixWord == rules.prefixWord)
            rules.suffixWord.clear();
        const int changing = int(rules.letterCase != LetterCase::AsGiven) + int(!rules.prefixWord.empty()) +
                             int(!rules.suffixWord.empty() || rules.signWithName);
        if (changing >= 2)
            break;
    }
    if (uniform() < options_.glossaryProbability) {
        const std::size_t entries = 3 + below(4);
        std::set<std::string> used;
        for (std::string_view item : vocab::items())
            used.insert(std::string(item));
        while (rules.glossary.size() < entries) {
            std::string term;
            const std::size_t syllableCount = 2 + below(2);
            for (std::size_t s = 0; s < syllableCount; ++s)
                term += pick(vocab::syllables());
            if (used.insert(term).second)
                rules.glossary.emplace_back(term, pick(vocab::items()));
        }
    }
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
    if (rules.assistantName.empty())
        throw Error("demo corpus: the rules need an assistant name (the persona line names it)");

    const std::vector<std::pair<std::string, std::string>> slots = {
        {"name", rules.assistantName},
        {"company", pick(vocab::companyStems()) + pick(vocab::companyEndings())},
        {"industry", pick(vocab::industries())},
        {"city", pick(vocab::cities())}};
    const std::string persona = fillSlots(pick(vocab::personaLines()), slots);

    // The rules, each as one sentence in the flow of the filler.
    std::vector<std::string> ruleSentences;
    auto withWord = [&](const std::vector<std::string_view>& phrasings, const std::string& word) {
        return fillSlots(phrasings[below(phrasings.size())], {{"word", word}});
    };
    if (rules.letterCase == LetterCase::Capitals)
        ruleSentences.push_back(pick(vocab::capitalsRules()));
    else if (rules.letterCase == LetterCase::Title)
        ruleSentences.push_back(pick(vocab::titleCaseRules()));
    else if (uniform() < 0.5)
        ruleSentences.push_back(pick(vocab::asGivenCaseRules()));
    if (rules.reversedOrder)
        ruleSentences.push_back(pick(vocab::reversedRules()));
    if (!rules.prefixWord.empty())
        ruleSentences.push_back(withWord(vocab::prefixRules(), rules.prefixWord));
    if (!rules.suffixWord.empty())
        ruleSentences.push_back(withWord(vocab::suffixRules(), rules.suffixWord));
    if (rules.signWithName)
        ruleSentences.push_back(pick(vocab::signRules()));

    std::string glossaryBlock;
    if (!rules.glossary.empty()) {
        glossaryBlock = pick(vocab::glossaryIntroductions());
        for (const auto& [term, meaning] : rules.glossary)
            glossaryBlock +=
                "\n" + fillSlots(pick(vocab::glossaryEntries()), {{"term", term}, {"meaning", meaning}});
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
    // Where the rules and the glossary go, as fractions of the filler used.
    std::vector<double> rulePositions;
    for (std::size_t r = 0; r < ruleSentences.size(); ++r)
        rulePositions.push_back(uniform());
    const double glossaryPosition = uniform();

    auto assemble = [&](std::size_t fillerCount) {
        std::vector<Piece> pieces(filler.begin(), filler.begin() + std::ptrdiff_t(fillerCount));
        // Insert from the back so earlier insertion points stay valid.
        std::vector<std::pair<std::size_t, Piece>> inserts;
        for (std::size_t r = 0; r < ruleSentences.size(); ++r) {
            Piece rule;
            rule.text = ruleSentences[r];
            inserts.emplace_back(std::size_t(rulePositions[r] * double(fillerCount + 1)), rule);
        }
        if (!glossaryBlock.empty()) {
            Piece block;
            block.text = glossaryBlock;
            block.block = true;
            inserts.emplace_back(std::size_t(glossaryPosition * double(fillerCount + 1)), block);
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
    context.queries = queriesFor(rules, options_.queriesPerContext, options_.lookupFraction);
    return context;
}

} // namespace sp::demo
