#include "demo/byte_level_bpe.h"

#include "softprompt/error.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <unordered_map>

namespace sp::demo {

namespace {

// GPT-2's pattern (the one Hugging Face's ByteLevel pre-tokenizer uses with use_regex: true).
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

struct CompiledPattern {
    pcre2_code* code = nullptr;
    CompiledPattern()
    {
        int errorCode = 0;
        PCRE2_SIZE errorOffset = 0;
        code =
            pcre2_compile(reinterpret_cast<PCRE2_SPTR>(kGpt2Pattern), PCRE2_ZERO_TERMINATED,
                          PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &errorCode, &errorOffset, nullptr);
        if (!code)
            throw Error("internal: the GPT-2 pre-tokenizer pattern does not compile (PCRE2 error " +
                        std::to_string(errorCode) + ")");
    }
    ~CompiledPattern() { pcre2_code_free(code); }
};

const CompiledPattern& gpt2Pattern()
{
    static const CompiledPattern pattern;
    return pattern;
}

std::string encodeUtf8(std::uint32_t codePoint)
{
    std::string out;
    if (codePoint < 0x80) {
        out += char(codePoint);
    } else if (codePoint < 0x800) {
        out += char(0xC0 | (codePoint >> 6));
        out += char(0x80 | (codePoint & 0x3F));
    } else {
        out += char(0xE0 | (codePoint >> 12));
        out += char(0x80 | ((codePoint >> 6) & 0x3F));
        out += char(0x80 | (codePoint & 0x3F));
    }
    return out;
}

} // namespace

std::vector<std::string> gpt2Pretokenize(std::string_view text)
{
    std::vector<std::string> pieces;
    const CompiledPattern& pattern = gpt2Pattern();
    std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> match(
        pcre2_match_data_create_from_pattern(pattern.code, nullptr), &pcre2_match_data_free);
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    std::size_t offset = 0;
    while (offset < text.size()) {
        const int result = pcre2_match(pattern.code, subject, text.size(), offset, 0, match.get(), nullptr);
        if (result < 0) {
            // Only invalid UTF-8 is left unmatched: each such byte becomes a piece of its own.
            pieces.emplace_back(1, text[offset]);
            ++offset;
            continue;
        }
        const PCRE2_SIZE* bounds = pcre2_get_ovector_pointer(match.get());
        if (bounds[0] > offset) // invalid bytes skipped by the matcher
            for (std::size_t i = offset; i < bounds[0]; ++i)
                pieces.emplace_back(1, text[i]);
        if (bounds[1] == bounds[0]) { // cannot happen with this pattern; never loop forever
            pieces.emplace_back(1, text[bounds[0]]);
            offset = bounds[0] + 1;
            continue;
        }
        pieces.emplace_back(text.substr(bounds[0], bounds[1] - bounds[0]));
        offset = bounds[1];
    }
    return pieces;
}

const std::vector<std::string>& byteToUnicode()
{
    // Printable Latin-1 bytes stand for themselves; the rest map to U+0100 upwards, in byte order.
    static const std::vector<std::string> table = [] {
        std::vector<std::string> result(256);
        std::uint32_t nextCodePoint = 256;
        for (std::uint32_t byte = 0; byte < 256; ++byte) {
            const bool printable =
                (byte >= '!' && byte <= '~') || (byte >= 0xA1 && byte <= 0xAC) || byte >= 0xAE;
            result[byte] = encodeUtf8(printable ? byte : nextCodePoint++);
        }
        return result;
    }();
    return table;
}

TrainedBpe trainByteLevelBpe(const std::vector<std::string>& texts, const BpeTrainingOptions& options)
{
    const int specialCount = int(options.specialTokens.size());
    if (options.vocabSize < 256 + specialCount)
        throw Error("BPE training: vocabulary size " + std::to_string(options.vocabSize) +
                    " leaves no room for the 256 byte tokens and " + std::to_string(specialCount) +
                    " special tokens");

    // Distinct pre-tokens and how often each occurs.
    std::map<std::string, std::int64_t> pretokenCounts;
    for (const std::string& text : texts)
        for (std::string& piece : gpt2Pretokenize(text))
            ++pretokenCounts[std::move(piece)];

    TrainedBpe bpe;
    std::unordered_map<std::string, int> idOfToken;
    for (int byte = 0; byte < 256; ++byte) {
        bpe.vocabulary.push_back(byteToUnicode()[std::size_t(byte)]);
        idOfToken[bpe.vocabulary.back()] = byte;
    }

    struct Word {
        std::vector<int> symbols;
        std::int64_t count = 0;
    };
    std::vector<Word> words;
    for (const auto& [piece, count] : pretokenCounts) {
        Word word;
        for (unsigned char byte : piece)
            word.symbols.push_back(byte);
        word.count = count;
        words.push_back(std::move(word));
    }

    const int mergeBudget = options.vocabSize - 256 - specialCount;
    while (int(bpe.vocabulary.size()) - 256 < mergeBudget) {
        std::map<std::pair<int, int>, std::int64_t> pairCounts;
        for (const Word& word : words)
            for (std::size_t i = 0; i + 1 < word.symbols.size(); ++i)
                pairCounts[{word.symbols[i], word.symbols[i + 1]}] += word.count;
        std::pair<int, int> best{-1, -1};
        std::int64_t bestCount = 0;
        for (const auto& [pair, count] : pairCounts) {
            const bool better =
                count > bestCount ||
                (count == bestCount && std::make_pair(bpe.vocabulary[std::size_t(pair.first)],
                                                      bpe.vocabulary[std::size_t(pair.second)]) <
                                           std::make_pair(bpe.vocabulary[std::size_t(best.first)],
                                                          bpe.vocabulary[std::size_t(best.second)]));
            if (better) {
                best = pair;
                bestCount = count;
            }
        }
        if (best.first < 0 || bestCount < options.minPairFrequency)
            break;
        const std::string merged =
            bpe.vocabulary[std::size_t(best.first)] + bpe.vocabulary[std::size_t(best.second)];
        bpe.merges.emplace_back(bpe.vocabulary[std::size_t(best.first)],
                                bpe.vocabulary[std::size_t(best.second)]);
        int mergedId = 0;
        if (auto found = idOfToken.find(merged); found != idOfToken.end()) {
            mergedId = found->second; // two different pairs can spell the same token
        } else {
            mergedId = int(bpe.vocabulary.size());
            bpe.vocabulary.push_back(merged);
            idOfToken[merged] = mergedId;
        }
        for (Word& word : words) {
            std::vector<int> rewritten;
            rewritten.reserve(word.symbols.size());
            for (std::size_t i = 0; i < word.symbols.size(); ++i) {
                if (i + 1 < word.symbols.size() && word.symbols[i] == best.first &&
                    word.symbols[i + 1] == best.second) {
                    rewritten.push_back(mergedId);
                    ++i;
                } else {
                    rewritten.push_back(word.symbols[i]);
                }
            }
            word.symbols = std::move(rewritten);
        }
        if (bpe.merges.size() > std::size_t(mergeBudget) * 2)
            break; // only repeated spellings left; never loop forever
    }
    for (const std::string& special : options.specialTokens) {
        if (idOfToken.count(special))
            throw Error("BPE training: special token " + special + " is also a learned token");
        bpe.vocabulary.push_back(special);
        bpe.specialTokens.push_back(special);
    }
    return bpe;
}

std::string TrainedBpe::toTokenizerJson() const
{
    using Json = nlohmann::ordered_json;
    Json vocab = Json::object();
    const std::size_t regularCount = vocabulary.size() - specialTokens.size();
    for (std::size_t id = 0; id < regularCount; ++id)
        vocab[vocabulary[id]] = id;
    Json mergeList = Json::array();
    for (const auto& [left, right] : merges)
        mergeList.push_back(left + " " + right);

    Json added = Json::array();
    for (std::size_t s = 0; s < specialTokens.size(); ++s) {
        added.push_back(Json{{"id", regularCount + s},
                             {"content", specialTokens[s]},
                             {"single_word", false},
                             {"lstrip", false},
                             {"rstrip", false},
                             {"normalized", true},
                             {"special", true}});
        vocab[specialTokens[s]] = regularCount + s;
    }

    const Json byteLevel = {
        {"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
    Json root = Json::object();
    root["version"] = "1.0";
    root["truncation"] = nullptr;
    root["padding"] = nullptr;
    root["added_tokens"] = added;
    root["normalizer"] = nullptr;
    root["pre_tokenizer"] = byteLevel;
    root["post_processor"] = byteLevel;
    root["decoder"] = byteLevel;
    root["model"] = Json{{"type", "BPE"},
                         {"dropout", nullptr},
                         {"unk_token", nullptr},
                         {"continuing_subword_prefix", ""},
                         {"end_of_word_suffix", ""},
                         {"fuse_unk", false},
                         {"byte_fallback", false},
                         {"vocab", vocab},
                         {"merges", mergeList}};
    return root.dump(1) + "\n";
}

} // namespace sp::demo
