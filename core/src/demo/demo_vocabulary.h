#pragma once
// Word lists and sentence templates the demo corpus is built from. Plain data, kept apart from the
// generator's logic.
#include <string_view>
#include <vector>

namespace sp::demo::vocabulary {

// The words a request asks to format and glossary meanings: lowercase, one word each.
const std::vector<std::string_view>& items();
// Words a reply may be told to begin or end with (written as they must appear).
const std::vector<std::string_view>& replyWords();
// Persona names.
const std::vector<std::string_view>& assistantNames();
const std::vector<std::string_view>& companyStems();
const std::vector<std::string_view>& companyEndings();
const std::vector<std::string_view>& industries();
const std::vector<std::string_view>& cities();
const std::vector<std::string_view>& products();
const std::vector<std::string_view>& teams();
const std::vector<std::string_view>& weekdays();
// Syllables that invented glossary words are made of.
const std::vector<std::string_view>& syllables();

// Policy sentences with slots {company} {name} {city} {product} {team} {day} {day2} {hour}
// {number} {year} {percent}. None of them states a formatting rule.
const std::vector<std::string_view>& fillerSentences();
const std::vector<std::string_view>& sectionHeadings();

// Rule phrasings. {word} is the reply word, {name} the persona name.
const std::vector<std::string_view>& personaLines(); // {name} {company} {city} {industry}
const std::vector<std::string_view>& capitalsRules();
const std::vector<std::string_view>& titleCaseRules();
const std::vector<std::string_view>& asGivenCaseRules();
const std::vector<std::string_view>& reversedRules();
const std::vector<std::string_view>& prefixRules();
const std::vector<std::string_view>& suffixRules();
const std::vector<std::string_view>& signRules();
const std::vector<std::string_view>& glossaryIntroductions();
const std::vector<std::string_view>& glossaryEntries(); // {term} {meaning}

// Request phrasings: {items} is the space-separated item list, {term} a glossary word.
const std::vector<std::string_view>& formatRequests();
const std::vector<std::string_view>& lookupRequests();

} // namespace sp::demo::vocabulary
