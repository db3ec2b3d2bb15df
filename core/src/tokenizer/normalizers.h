#pragma once
// tokenizer.json "normalizer" section: NFC/NFD/NFKC/NFKD, Lowercase, Strip, StripAccents, Replace,
// Prepend, ByteLevel and Sequence, with the semantics of tokenizers/src/normalizers.
#include "tokenizer/json_access.h"

#include <memory>
#include <string>
#include <utility>

namespace sp::tok {

class Normalizer {
public:
    virtual ~Normalizer() = default;
    // `text` is valid UTF-8 and stays valid UTF-8.
    virtual void normalize(std::string& text) const = 0;
};

// Throws sp::Error naming the path for unknown types and malformed fields.
std::unique_ptr<Normalizer> makeNormalizer(const Json& config, const JsonPath& path);

// A {"String": ...} or {"Regex": ...} pattern member: the pattern and whether it is a literal.
std::pair<std::string, bool> patternMember(const Json& config, const JsonPath& path);

// The GPT-2 byte-to-character table shared by the ByteLevel normalizer, pre-tokenizer and decoder:
// the UTF-8 of the character that stands for byte b is image[b][0 .. imageLength[b]).
struct ByteLevelAlphabet {
    char image[256][2];
    unsigned char imageLength[256];
    // For a code point below 324, the byte it stands for, or -1.
    int charToByte[324];
};
const ByteLevelAlphabet& byteLevelAlphabet();
// Appends the byte-level image of `text` (each byte replaced by its character) to `out`.
void appendByteLevelImage(std::string& out, std::string_view text);

} // namespace sp::tok
