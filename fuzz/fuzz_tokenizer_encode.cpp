// libFuzzer target for the encoder and decoder on real tokenizer.json files. The first input byte
// picks the tokenizer, the rest is the text (any bytes: invalid UTF-8 is replaced by U+FFFD).
// Checked on every input:
//  - ids lie in [0, vocabSize()); encoding twice (the second time from the word cache) agrees;
//  - decodePieces() reassembles to decode();
//  - byte-level tokenizers round-trip: decode(encode(s)) is s (after U+FFFD replacement, and NFC
//    for Qwen's normalizer); SentencePiece-style ones round-trip when s holds no special token;
//  - a BOS template adds exactly its token in front.
// Tokenizers: TinyLlama from ../shared/fixtures, and GPT-2, Qwen2.5, Llama 3 and Mistral from the
// npm cache of tests/tokenizer/fetch-references.sh ($SP_TOKENIZER_CACHE or ~/.cache/...) when there.
#include "softprompt/error.h"
#include "softprompt/tokenizer.h"
#include "tokenizer/unicode_text.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

namespace {

void check(bool condition)
{
    if (!condition)
        __builtin_trap();
}

enum class RoundTrip { Exact, Nfc, UnlessSpecialText };

struct Subject {
    std::string name;
    std::unique_ptr<sp::Tokenizer> tokenizer;
    RoundTrip roundTrip;
    bool addsBos;
};

std::string cacheDir()
{
    if (const char* cache = std::getenv("SP_TOKENIZER_CACHE"); cache != nullptr && *cache != '\0')
        return cache;
    if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg != '\0')
        return std::string(xdg) + "/softprompt-workbench/npm";
    const char* home = std::getenv("HOME");
    return std::string(home != nullptr ? home : ".") + "/.cache/softprompt-workbench/npm";
}

std::vector<Subject> loadSubjects()
{
    std::vector<Subject> subjects;
    const auto add = [&](const std::string& name, const std::string& path, RoundTrip roundTrip,
                         bool addsBos) {
        if (!std::ifstream(path).good()) {
            std::fprintf(stderr, "fuzz_tokenizer_encode: %s not found, not fuzzed (%s)\n", name.c_str(),
                         path.c_str());
            return;
        }
        subjects.push_back(
            {name, std::make_unique<sp::Tokenizer>(sp::Tokenizer::fromFile(path)), roundTrip, addsBos});
    };
    const std::string npm = cacheDir() + "/packages/";
    add("tinyllama", SP_SHARED_FIXTURES_DIR "/tokenizers/tinyllama-tokenizer.json",
        RoundTrip::UnlessSpecialText, true);
    add("gpt2", npm + "gpt2/package/models/tokenizer.json", RoundTrip::Exact, false);
    add("qwen2_5", npm + "qwen2_5/package/models/tokenizer.json", RoundTrip::Nfc, false);
    add("llama3", npm + "llama3/package/models/tokenizer.json", RoundTrip::Exact, false);
    add("mistral", npm + "llama2/package/models/tokenizer.json", RoundTrip::UnlessSpecialText, true);
    if (subjects.empty()) {
        std::fprintf(stderr, "fuzz_tokenizer_encode: no tokenizer.json found\n");
        std::abort();
    }
    return subjects;
}

// SentencePiece-style files do not round-trip special-token text (the pieces around it get their
// own "▁" prefix) nor a literal U+2581, which decodes to a space.
bool spoilsSentencePieceRoundTrip(const std::string& text)
{
    for (const char* marker : {"<s>", "</s>", "<unk>", "\xE2\x96\x81"})
        if (text.find(marker) != std::string::npos)
            return true;
    return false;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    static const std::vector<Subject> subjects = loadSubjects();
    if (size == 0)
        return 0;
    const Subject& subject = subjects[data[0] % subjects.size()];
    const sp::Tokenizer& tokenizer = *subject.tokenizer;
    const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);

    const std::vector<std::int32_t> ids = tokenizer.encode(text, false);
    for (const std::int32_t id : ids)
        check(id >= 0 && id < tokenizer.vocabSize());
    check(tokenizer.encode(text, false) == ids);

    const std::string decoded = tokenizer.decode(ids);
    std::string joined;
    for (const std::string& piece : tokenizer.decodePieces(ids))
        joined += piece;
    check(joined == decoded);

    const std::string valid = sp::tok::toValidUtf8(text);
    switch (subject.roundTrip) {
    case RoundTrip::Exact:
        check(decoded == valid);
        break;
    case RoundTrip::Nfc:
        check(decoded == sp::tok::normalizeUnicode(valid, sp::tok::NormalForm::NFC));
        break;
    case RoundTrip::UnlessSpecialText:
        if (!spoilsSentencePieceRoundTrip(valid))
            check(decoded == valid);
        break;
    }

    const std::vector<std::int32_t> withSpecial = tokenizer.encode(text, true);
    if (subject.addsBos) {
        check(withSpecial.size() == ids.size() + 1 && withSpecial[0] == 1);
        check(std::equal(ids.begin(), ids.end(), withSpecial.begin() + 1));
    } else {
        check(withSpecial == ids);
    }
    return 0;
}
