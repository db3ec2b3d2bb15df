// libFuzzer target for the tokenizer.json loader. Every input must either load or raise sp::Error
// (never crash, hang or leak); a file that loads must then encode and decode a few texts while
// keeping the API's promises: ids of encode(text, false) lie in [0, vocabSize()), and the
// token-boundary pieces reassemble to decode(ids).
//
// Seeds: fuzz/corpus/tokenizer_json (small hand-written files covering every section type);
// dictionary: fuzz/tokenizer_json.dict.
#include "softprompt/error.h"
#include "softprompt/tokenizer.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

void check(bool condition)
{
    if (!condition)
        __builtin_trap();
}

void exercise(const sp::Tokenizer& tokenizer, std::string_view text)
{
    std::vector<std::int32_t> ids;
    try {
        ids = tokenizer.encode(text, false);
    } catch (const sp::Error&) {
        return; // e.g. an unk_token that is not in the vocabulary, or a regex over its match limit
    }
    for (const std::int32_t id : ids)
        check(id >= 0 && id < tokenizer.vocabSize());
    const std::string decoded = tokenizer.decode(ids);
    std::string joined;
    for (const std::string& piece : tokenizer.decodePieces(ids))
        joined += piece;
    check(joined == decoded);
    try {
        const std::vector<std::int32_t> withSpecial = tokenizer.encode(text, true);
        tokenizer.decode(withSpecial, true);
    } catch (const sp::Error&) {
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string_view json(reinterpret_cast<const char*>(data), size);
    try {
        const sp::Tokenizer tokenizer = sp::Tokenizer::fromJson(json, "fuzz/tokenizer.json");
        check(tokenizer.vocabSize() >= 0);
        tokenizer.description();
        for (const char* text : {"Hello world! It's 2024.\n\n  <s>x</s>",
                                 "\xE4\xB8\xAD\xE6\x96\x87 \xF0\x9F\x91\x8B\xF0\x9F\x8F\xBD", "",
                                 " \t\r\n\xC2\xA0\xE2\x80\x83", "a\xFF\xC3"})
            exercise(tokenizer, text);
        // The file's own bytes as text reach the added tokens and vocabulary entries it defines.
        exercise(tokenizer, json.substr(json.size() > 64 ? json.size() - 64 : 0));
    } catch (const sp::Error&) {
    }
    return 0;
}
