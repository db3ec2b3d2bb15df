#include "softprompt/text.h"

#include "softprompt/error.h"

#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdlib>

namespace sp {

std::vector<std::string> splitString(std::string_view text, char separator)
{
    std::vector<std::string> parts;
    std::size_t start = 0;
    while (true) {
        const std::size_t end = text.find(separator, start);
        parts.emplace_back(text.substr(start, end == std::string_view::npos ? text.npos : end - start));
        if (end == std::string_view::npos)
            break;
        start = end + 1;
    }
    return parts;
}

std::string joinStrings(const std::vector<std::string>& parts, std::string_view separator)
{
    std::string joined;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        if (i)
            joined += separator;
        joined += parts[i];
    }
    return joined;
}

std::string trimWhitespace(std::string_view text)
{
    std::size_t begin = 0, end = text.size();
    while (begin < end && std::isspace(static_cast<unsigned char>(text[begin])))
        ++begin;
    while (end > begin && std::isspace(static_cast<unsigned char>(text[end - 1])))
        --end;
    return std::string(text.substr(begin, end - begin));
}

std::vector<long long> parseIntegerList(std::string_view text)
{
    std::vector<long long> values;
    if (trimWhitespace(text).empty())
        return values;
    for (const std::string& item : splitString(text, ',')) {
        const std::string trimmed = trimWhitespace(item);
        char* end = nullptr;
        errno = 0;
        const long long value = std::strtoll(trimmed.c_str(), &end, 10);
        if (trimmed.empty() || *end != '\0' || errno == ERANGE)
            throw Error("'" + trimmed + "' is not an integer; give a comma-separated list such as 1,2,3");
        values.push_back(value);
    }
    return values;
}

bool isValidUtf8(std::string_view text)
{
    std::size_t i = 0;
    const std::size_t n = text.size();
    while (i < n) {
        const auto byte = static_cast<unsigned char>(text[i]);
        std::size_t length;
        std::uint32_t codepoint;
        if (byte < 0x80) {
            ++i;
            continue;
        } else if ((byte & 0xE0) == 0xC0) {
            length = 2;
            codepoint = byte & 0x1F;
        } else if ((byte & 0xF0) == 0xE0) {
            length = 3;
            codepoint = byte & 0x0F;
        } else if ((byte & 0xF8) == 0xF0) {
            length = 4;
            codepoint = byte & 0x07;
        } else {
            return false;
        }
        if (i + length > n)
            return false;
        for (std::size_t j = 1; j < length; ++j) {
            const auto continuation = static_cast<unsigned char>(text[i + j]);
            if ((continuation & 0xC0) != 0x80)
                return false;
            codepoint = (codepoint << 6) | (continuation & 0x3F);
        }
        const bool overlong = (length == 2 && codepoint < 0x80) ||
                              (length == 3 && codepoint < 0x800) ||
                              (length == 4 && codepoint < 0x10000);
        if (overlong || codepoint > 0x10FFFF || (codepoint >= 0xD800 && codepoint <= 0xDFFF))
            return false;
        i += length;
    }
    return true;
}

} // namespace sp
