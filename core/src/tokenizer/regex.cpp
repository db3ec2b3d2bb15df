#include "tokenizer/regex.h"

#include "tokenizer/unicode_text.h"

#include "softprompt/error.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

namespace sp::tok {

namespace {

// Oniguruma's Unicode word characters (the same set the JS port documents), without brackets.
constexpr const char* kWordClassBody =
    "\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\x{B2}\\x{B3}\\x{B9}\\x{BC}-\\x{BE}";
constexpr const char* kHexClassBody = "0-9A-Fa-f";

bool isHexDigit(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

std::string pcre2Message(int errorCode)
{
    PCRE2_UCHAR buffer[256];
    if (pcre2_get_error_message(errorCode, buffer, sizeof(buffer)) < 0)
        return "error " + std::to_string(errorCode);
    return reinterpret_cast<const char*>(buffer);
}

// Per-thread match state: match data cannot be shared between threads, and the JIT stack must be
// larger than PCRE2's 32 KiB default for long runs of whitespace.
struct MatchState {
    pcre2_match_data* data = nullptr;
    pcre2_match_context* context = nullptr;
    pcre2_jit_stack* jitStack = nullptr;

    MatchState()
    {
        data = pcre2_match_data_create(1, nullptr);
        context = pcre2_match_context_create(nullptr);
        jitStack = pcre2_jit_stack_create(64 * 1024, 8 * 1024 * 1024, nullptr);
        if (context != nullptr) {
            // Bounds the work a hostile pattern can cause; real tokenizer regexes stay far below.
            pcre2_set_match_limit(context, 50'000'000);
            pcre2_set_depth_limit(context, 1'000'000);
            if (jitStack != nullptr)
                pcre2_jit_stack_assign(context, nullptr, jitStack);
        }
    }
    ~MatchState()
    {
        pcre2_jit_stack_free(jitStack);
        pcre2_match_context_free(context);
        pcre2_match_data_free(data);
    }
    MatchState(const MatchState&) = delete;
    MatchState& operator=(const MatchState&) = delete;
};

MatchState& matchState()
{
    thread_local MatchState state;
    if (state.data == nullptr || state.context == nullptr)
        throw Error("out of memory while preparing a regular expression match");
    return state;
}

} // namespace

std::string translateOnigurumaPattern(const std::string& pattern)
{
    std::string out;
    out.reserve(pattern.size() + 32);
    bool inClass = false;
    std::size_t i = 0;
    const std::size_t n = pattern.size();
    while (i < n) {
        const char c = pattern[i];
        if (c == '\\' && i + 1 < n) {
            const char e = pattern[i + 1];
            i += 2;
            switch (e) {
            case 's':
                out += "\\p{White_Space}";
                break;
            case 'S':
                out += "\\P{White_Space}";
                break;
            case 'w':
                out += inClass ? std::string(kWordClassBody) : "[" + std::string(kWordClassBody) + "]";
                break;
            case 'W':
                // A negated set cannot be nested inside a PCRE2 class; PCRE2's own \W is the nearest.
                out += inClass ? std::string("\\W") : "[^" + std::string(kWordClassBody) + "]";
                break;
            case 'd':
                out += "\\p{Nd}";
                break;
            case 'D':
                out += "\\P{Nd}";
                break;
            case 'h':
                out += inClass ? std::string(kHexClassBody) : "[" + std::string(kHexClassBody) + "]";
                break;
            case 'H':
                if (inClass)
                    throw Error("regex '" + pattern + "': \\H inside a character class is not supported");
                out += "[^" + std::string(kHexClassBody) + "]";
                break;
            case 'u':
                if (i + 4 <= n && isHexDigit(pattern[i]) && isHexDigit(pattern[i + 1]) &&
                    isHexDigit(pattern[i + 2]) && isHexDigit(pattern[i + 3])) {
                    out += "\\x{" + pattern.substr(i, 4) + "}";
                    i += 4;
                } else {
                    out += "\\u";
                }
                break;
            default: {
                out.push_back('\\');
                // Copy the whole escaped character, which may be multi-byte.
                const std::size_t length = utf8SequenceLength(static_cast<unsigned char>(e));
                out.append(pattern, i - 1, length);
                i += length - 1;
                break;
            }
            }
            continue;
        }
        if (inClass) {
            if (c == '[' && i + 1 < n && pattern[i + 1] == ':') {
                // POSIX bracket expression [:alpha:]: copy it whole.
                const std::size_t close = pattern.find(":]", i + 2);
                if (close != std::string::npos) {
                    out.append(pattern, i, close + 2 - i);
                    i = close + 2;
                    continue;
                }
            }
            if (c == ']')
                inClass = false;
            out.push_back(c);
            ++i;
            continue;
        }
        if (c == '[') {
            inClass = true;
            out.push_back(c);
            ++i;
            if (i < n && pattern[i] == '^') {
                out.push_back('^');
                ++i;
            }
            if (i < n && pattern[i] == ']') {
                out.push_back(']');
                ++i;
            }
            continue;
        }
        if (c == '(' && i + 2 < n && pattern[i + 1] == '?') {
            // Inline options: Ruby's (?m) is PCRE2's (?s); ^ and $ are always line anchors there.
            std::size_t j = i + 2;
            while (j < n &&
                   (pattern[j] == 'i' || pattern[j] == 'm' || pattern[j] == 'x' || pattern[j] == '-'))
                ++j;
            if (j > i + 2 && j < n && (pattern[j] == ':' || pattern[j] == ')')) {
                out += "(?";
                for (std::size_t k = i + 2; k < j; ++k)
                    out.push_back(pattern[k] == 'm' ? 's' : pattern[k]);
                i = j;
                continue;
            }
        }
        out.push_back(c);
        ++i;
    }
    return out;
}

Regex::Regex(const std::string& pattern, bool literal) : pattern_(pattern)
{
    const std::string source = literal ? pattern : translateOnigurumaPattern(pattern);
    // PCRE2_LITERAL admits neither UCP nor MULTILINE, and needs neither.
    const uint32_t options =
        PCRE2_UTF | PCRE2_NO_UTF_CHECK | (literal ? PCRE2_LITERAL : PCRE2_UCP | PCRE2_MULTILINE);
    if (!literal && validUtf8Prefix(source) != source.size())
        throw Error("regex '" + pattern + "' is not valid UTF-8");
    pcre2_compile_context* context = pcre2_compile_context_create(nullptr);
    if (context != nullptr)
        pcre2_set_newline(context, PCRE2_NEWLINE_LF);
    int errorCode = 0;
    PCRE2_SIZE errorOffset = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(source.data()), source.size(), options,
                                     &errorCode, &errorOffset, context);
    pcre2_compile_context_free(context);
    if (code == nullptr)
        throw Error("regex '" + pattern + "' does not compile: " + pcre2Message(errorCode) + " at offset " +
                    std::to_string(errorOffset));
    code_ = code;
    jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
}

Regex::~Regex()
{
    pcre2_code_free(static_cast<pcre2_code*>(code_));
}

bool Regex::search(std::string_view text, std::size_t start, Span& match) const
{
    MatchState& state = matchState();
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.empty() ? "" : text.data());
    auto* code = static_cast<pcre2_code*>(code_);
    const int rc =
        jit_ ? pcre2_jit_match(code, subject, text.size(), start, 0, state.data, state.context)
             : pcre2_match(code, subject, text.size(), start, PCRE2_NO_UTF_CHECK, state.data, state.context);
    if (rc == PCRE2_ERROR_NOMATCH)
        return false;
    if (rc < 0)
        throw Error("regex '" + pattern_ + "' failed on a text of " + std::to_string(text.size()) +
                    " bytes: " + pcre2Message(rc));
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(state.data);
    match.end = ovector[1];
    // \K inside a lookahead can report a start after the end; treat such a match as empty.
    match.begin = ovector[0] <= ovector[1] ? ovector[0] : ovector[1];
    return true;
}

} // namespace sp::tok
