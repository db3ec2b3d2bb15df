#include "tokenizer/unicode_text.h"

#include "softprompt/error.h"

#include <utf8proc.h>

#include <cstdlib>
#include <memory>

namespace sp::tok {

char32_t decodeUtf8(std::string_view text, std::size_t& pos)
{
    const auto byteAt = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
    const unsigned char lead = byteAt(pos);
    const std::size_t length = utf8SequenceLength(lead);
    if (length == 1 || pos + length > text.size()) {
        ++pos;
        return lead;
    }
    char32_t value = lead & (0xFF >> (length + 1));
    for (std::size_t i = 1; i < length; ++i)
        value = (value << 6) | (byteAt(pos + i) & 0x3F);
    pos += length;
    return value;
}

void appendUtf8(std::string& out, char32_t c)
{
    if (c < 0x80) {
        out.push_back(static_cast<char>(c));
    } else if (c < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (c >> 6)));
        out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (c >> 12)));
        out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (c >> 18)));
        out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
}

namespace {

// Number of bytes of a valid sequence starting at `pos`, or 0 when the sequence is invalid; then
// `invalidLength` is the length of its maximal invalid subpart (at least 1).
std::size_t validSequenceAt(std::string_view bytes, std::size_t pos, std::size_t& invalidLength)
{
    const auto byteAt = [&](std::size_t i) { return static_cast<unsigned char>(bytes[i]); };
    const unsigned char lead = byteAt(pos);
    invalidLength = 1;
    if (lead < 0x80)
        return 1;
    std::size_t length = 0;
    unsigned char low = 0x80;
    unsigned char high = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
        length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        length = 3;
        if (lead == 0xE0)
            low = 0xA0;
        else if (lead == 0xED)
            high = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        length = 4;
        if (lead == 0xF0)
            low = 0x90;
        else if (lead == 0xF4)
            high = 0x8F;
    } else {
        return 0;
    }
    for (std::size_t i = 1; i < length; ++i) {
        if (pos + i >= bytes.size())
            return 0;
        const unsigned char next = byteAt(pos + i);
        const unsigned char lowBound = i == 1 ? low : 0x80;
        const unsigned char highBound = i == 1 ? high : 0xBF;
        if (next < lowBound || next > highBound)
            return 0;
        invalidLength = i + 1;
    }
    return length;
}

} // namespace

void appendUtf8Lossy(std::string& out, std::string_view bytes)
{
    std::size_t pos = 0;
    std::size_t runStart = 0;
    while (pos < bytes.size()) {
        std::size_t invalidLength = 0;
        const std::size_t length = validSequenceAt(bytes, pos, invalidLength);
        if (length > 0) {
            pos += length;
            continue;
        }
        out.append(bytes.substr(runStart, pos - runStart));
        out.append("\xEF\xBF\xBD");
        pos += invalidLength;
        runStart = pos;
    }
    out.append(bytes.substr(runStart));
}

std::string toValidUtf8(std::string_view bytes)
{
    if (validUtf8Prefix(bytes) == bytes.size())
        return std::string(bytes);
    std::string out;
    out.reserve(bytes.size() + 8);
    appendUtf8Lossy(out, bytes);
    return out;
}

std::size_t validUtf8Prefix(std::string_view bytes)
{
    std::size_t pos = 0;
    while (pos < bytes.size()) {
        if (static_cast<unsigned char>(bytes[pos]) < 0x80) {
            ++pos;
            continue;
        }
        std::size_t invalidLength = 0;
        const std::size_t length = validSequenceAt(bytes, pos, invalidLength);
        if (length == 0)
            return pos;
        pos += length;
    }
    return pos;
}

bool isWhitespace(char32_t c)
{
    if (c <= 0x20)
        return c == 0x20 || (c >= 0x09 && c <= 0x0D);
    if (c < 0x85)
        return false;
    return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
           c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

namespace {

utf8proc_category_t categoryOf(char32_t c)
{
    return utf8proc_category(static_cast<utf8proc_int32_t>(c));
}

} // namespace

bool isNumeric(char32_t c)
{
    if (c < 0x80)
        return c >= '0' && c <= '9';
    const auto category = categoryOf(c);
    return category == UTF8PROC_CATEGORY_ND || category == UTF8PROC_CATEGORY_NL ||
           category == UTF8PROC_CATEGORY_NO;
}

bool isPunctuation(char32_t c)
{
    if (c < 0x80)
        return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
               (c >= 0x7B && c <= 0x7E);
    const auto category = categoryOf(c);
    return category >= UTF8PROC_CATEGORY_PC && category <= UTF8PROC_CATEGORY_PO;
}

bool isCombiningMark(char32_t c)
{
    const auto category = categoryOf(c);
    return category == UTF8PROC_CATEGORY_MN || category == UTF8PROC_CATEGORY_MC ||
           category == UTF8PROC_CATEGORY_ME;
}

std::string normalizeUnicode(std::string_view text, NormalForm form)
{
    bool ascii = true;
    for (const char ch : text)
        ascii = ascii && static_cast<unsigned char>(ch) < 0x80;
    if (ascii || text.empty())
        return std::string(text);
    int options = UTF8PROC_STABLE;
    switch (form) {
    case NormalForm::NFC:
        options |= UTF8PROC_COMPOSE;
        break;
    case NormalForm::NFD:
        options |= UTF8PROC_DECOMPOSE;
        break;
    case NormalForm::NFKC:
        options |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
        break;
    case NormalForm::NFKD:
        options |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;
        break;
    }
    utf8proc_uint8_t* result = nullptr;
    const utf8proc_ssize_t length = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                                                 static_cast<utf8proc_ssize_t>(text.size()), &result,
                                                 static_cast<utf8proc_option_t>(options));
    if (length < 0)
        throw Error(std::string("Unicode normalisation failed: ") + utf8proc_errmsg(length));
    const std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owner(result, &std::free);
    return std::string(reinterpret_cast<const char*>(result), static_cast<std::size_t>(length));
}

std::string lowercase(std::string_view text)
{
    std::string out;
    out.reserve(text.size());
    std::size_t pos = 0;
    while (pos < text.size()) {
        const char32_t c = decodeUtf8(text, pos);
        if (c < 0x80) {
            out.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c));
        } else if (c == 0x130) {
            // The one unconditional multi-character lowercase mapping (SpecialCasing.txt).
            out.append("i\xCC\x87");
        } else {
            appendUtf8(out, static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))));
        }
    }
    return out;
}

} // namespace sp::tok
