#pragma once
// Word lists and sentence templates the demo corpus is built from. Plain data, kept apart from the
// generator's logic. The value lists of the facts, the greetings and the closings are disjoint, and
// every word in them becomes one token of the demo tokenizer.
#include <string_view>
#include <vector>

namespace sp::demo::vocabulary {

// Values of the facts (see demoAttributes()).
const std::vector<std::string_view>& assistantNames(); // "name"
const std::vector<std::string_view>& cities();         // "city"
const std::vector<std::string_view>& colours();        // "colour"
const std::vector<std::string_view>& mascots();        // "mascot"
const std::vector<std::string_view>& codeWords();      // "code"
const std::vector<std::string_view>& managers();       // "manager"
const std::vector<std::string_view>& valuesOf(std::string_view attribute);
// Words a reply begins or ends with.
const std::vector<std::string_view>& greetings();
const std::vector<std::string_view>& closings();
// Every list a reply word comes from, each a class of its own: the values of each attribute (in
// demoAttributes() order), then the greetings, then the closings.
const std::vector<const std::vector<std::string_view>*>& replyWordClasses();

// Filler only (never asked for).
const std::vector<std::string_view>& companyStems();
const std::vector<std::string_view>& companyEndings();
const std::vector<std::string_view>& industries();
const std::vector<std::string_view>& products();
const std::vector<std::string_view>& teams();
const std::vector<std::string_view>& weekdays();

// Policy sentences with slots {company} {name} {city} {product} {team} {day} {day2} {hour}
// {number} {year} {percent}. None of them states a fact that is asked for or a reply rule.
const std::vector<std::string_view>& fillerSentences();
const std::vector<std::string_view>& sectionHeadings();

const std::vector<std::string_view>& personaLines(); // {name} {company} {city} {industry}
// Sentences stating a fact: {value}.
const std::vector<std::string_view>& factSentences(std::string_view attribute);
// Sentences that mention another word of a fact's class without stating the fact ({value}), so
// that a word of the right class is not enough to find the answer.
const std::vector<std::string_view>& distractorSentences(std::string_view attribute);
// Reply rules: {word}.
const std::vector<std::string_view>& greetingRules();
const std::vector<std::string_view>& closingRules();

// Questions asking for a fact. The last two of each list are the held-out phrasings.
const std::vector<std::string_view>& questions(std::string_view attribute);
inline constexpr std::size_t kHeldoutPhrasings = 2;
// Openers put before a question ("" = none).
const std::vector<std::string_view>& questionOpeners();

} // namespace sp::demo::vocabulary
