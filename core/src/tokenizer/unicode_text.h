#pragma once
// UTF-8 and Unicode helpers with the exact semantics the Rust `tokenizers` crate relies on
// (char::is_whitespace, char::is_numeric, String::from_utf8_lossy, unicode-normalization).
#include <cstddef>
#include <string>
#include <string_view>

namespace sp::tok {

// Byte length of the UTF-8 sequence that starts with `lead` (1 for stray continuation bytes).
inline std::size_t utf8SequenceLength(unsigned char lead)
{
    if (lead < 0x80)
        return 1;
    if (lead >= 0xF0)
        return 4;
    if (lead >= 0xE0)
        return 3;
    if (lead >= 0xC0)
        return 2;
    return 1;
}

// Decodes the code point at `pos` of valid UTF-8 and advances `pos` past it.
char32_t decodeUtf8(std::string_view text, std::size_t& pos);
void appendUtf8(std::string& out, char32_t codePoint);

// Appends `bytes` to `out`, replacing each maximal invalid subsequence with U+FFFD exactly like
// Rust's String::from_utf8_lossy (the Unicode "substitution of maximal subparts" practice).
void appendUtf8Lossy(std::string& out, std::string_view bytes);
std::string toValidUtf8(std::string_view bytes);
// Length of the longest prefix of `bytes` that is valid UTF-8.
std::size_t validUtf8Prefix(std::string_view bytes);

// Rust char::is_whitespace: the Unicode White_Space property.
bool isWhitespace(char32_t c);
// Rust char::is_numeric: general categories Nd, Nl and No.
bool isNumeric(char32_t c);
// Rust char::is_ascii_punctuation || unicode_categories::is_punctuation (categories P*).
bool isPunctuation(char32_t c);
// General categories Mn, Mc and Me.
bool isCombiningMark(char32_t c);

enum class NormalForm { NFC, NFD, NFKC, NFKD };
// Unicode normalisation of valid UTF-8 (utf8proc).
std::string normalizeUnicode(std::string_view text, NormalForm form);
// Rust str::to_lowercase per character (unconditional full mappings, no context rules).
std::string lowercase(std::string_view text);

} // namespace sp::tok
