#pragma once
// PCRE2 (UTF + UCP, JIT-compiled) standing in for the Oniguruma regexes of the Rust `tokenizers`
// crate. Patterns are translated where the two engines disagree (\s, \S, \w, \W, \h, \H, \uXXXX)
// and matches are iterated with Oniguruma's rules for empty matches.
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sp::tok {

struct Span {
    std::size_t begin = 0;
    std::size_t end = 0;
};

class Regex {
public:
    // `literal`: the pattern is matched as plain text (tokenizers' {"String": ...} patterns).
    // Throws sp::Error naming the pattern when it does not compile.
    Regex(const std::string& pattern, bool literal);
    ~Regex();
    Regex(const Regex&) = delete;
    Regex& operator=(const Regex&) = delete;

    // Every match in `text` (valid UTF-8), left to right, as the onig crate's find_iter yields them:
    // an empty match right after the previous match is skipped by advancing one character.
    void findAll(std::string_view text, std::vector<Span>& matches) const
    {
        forEachMatch(text, [&](const Span& match) { matches.push_back(match); });
    }
    template <typename Visitor> void forEachMatch(std::string_view text, Visitor&& visit) const;
    // First match at or after `start`; false when there is none.
    bool search(std::string_view text, std::size_t start, Span& match) const;

    const std::string& pattern() const { return pattern_; }

private:
    std::string pattern_;
    void* code_ = nullptr; // pcre2_code_8*
    bool jit_ = false;
};

template <typename Visitor> void Regex::forEachMatch(std::string_view text, Visitor&& visit) const
{
    std::size_t searchFrom = 0;
    bool matchedBefore = false;
    std::size_t lastMatchEnd = 0;
    while (searchFrom <= text.size()) {
        Span match;
        if (!search(text, searchFrom, match) || match.end < searchFrom)
            break;
        if (match.begin == match.end && matchedBefore && lastMatchEnd == match.end) {
            const auto lead = searchFrom < text.size() ? static_cast<unsigned char>(text[searchFrom]) : 0;
            searchFrom += lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
            continue;
        }
        searchFrom = match.end;
        lastMatchEnd = match.end;
        matchedBefore = true;
        visit(match);
    }
}

// The Oniguruma (Ruby syntax) pattern rewritten for PCRE2; exposed for the tests.
std::string translateOnigurumaPattern(const std::string& pattern);

} // namespace sp::tok
