#pragma once
// Hugging Face tokenizer.json, implemented exactly (see tests/core/test_tokenizer*.cpp).
// Torch-free: the UI uses it for live token counts and the token-boundary view.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sp {

class Tokenizer {
public:
    // `path` is a tokenizer.json file or a model folder that holds one. Throws sp::Error naming the
    // file and what is wrong (unsupported model type, bad JSON, missing field, ...).
    static Tokenizer fromFile(const std::string& path);
    // `sourceName` is used in error messages only.
    static Tokenizer fromJson(std::string_view jsonText, const std::string& sourceName = "tokenizer.json");

    // Added/special tokens are split out first; the post-processor adds BOS/EOS only when
    // addSpecialTokens is true and the file's template says so.
    std::vector<std::int32_t> encode(std::string_view text, bool addSpecialTokens = false) const;
    std::string decode(const std::vector<std::int32_t>& ids, bool skipSpecialTokens = false) const;

    // One decoded piece per id whose concatenation equals decode(ids); a character split across
    // several byte tokens is attributed to the token that completes it. For the token-boundary view.
    std::vector<std::string> decodePieces(const std::vector<std::int32_t>& ids) const;

    std::int32_t vocabSize() const; // largest id + 1, added tokens included
    std::string idToToken(std::int32_t id) const; // the raw vocabulary string ("" when unknown)
    std::optional<std::int32_t> tokenToId(std::string_view token) const;
    bool isSpecial(std::int32_t id) const;
    // The model family the file looks like ("gpt2-bytelevel", "sentencepiece", ...), for display.
    std::string description() const;

    struct Impl;

private:
    explicit Tokenizer(std::shared_ptr<const Impl> impl);
    std::shared_ptr<const Impl> impl_;
};

} // namespace sp
