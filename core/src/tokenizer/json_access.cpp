#include "tokenizer/json_access.h"

#include "tokenizer/unicode_text.h"

namespace sp::tok {

char32_t charMember(const Json& object, const char* key, char32_t fallback, const JsonPath& path)
{
    const Json* value = optionalMember(object, key);
    if (value == nullptr)
        return fallback;
    const std::string text = requireString(*value, path / key);
    std::size_t pos = 0;
    if (text.empty() || validUtf8Prefix(text) != text.size())
        (path / key).fail("must be one character");
    const char32_t c = decodeUtf8(text, pos);
    if (pos != text.size())
        (path / key).fail("must be one character (got \"" + text + "\")");
    return c;
}

} // namespace sp::tok
