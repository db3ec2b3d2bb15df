#include "softprompt/tokenizer.h"

#include "tokenizer/added_vocabulary.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/decoders.h"
#include "tokenizer/json_access.h"
#include "tokenizer/normalizers.h"
#include "tokenizer/pieces.h"
#include "tokenizer/post_processors.h"
#include "tokenizer/pre_tokenizers.h"
#include "tokenizer/unicode_text.h"

#include "softprompt/error.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace sp {

struct Tokenizer::Impl {
    std::string sourceName;
    std::unique_ptr<tok::Normalizer> normalizer;
    std::unique_ptr<tok::PreTokenizer> preTokenizer;
    std::unique_ptr<tok::BpeModel> model;
    std::unique_ptr<tok::AddedVocabulary> added;
    std::unique_ptr<tok::PostProcessor> postProcessor;
    std::unique_ptr<tok::Decoder> decoder;
    std::string description;

    // The token string of `id` as the Rust crate's id_to_token sees it, or nullptr.
    const std::string* tokenString(std::int32_t id) const
    {
        if (const tok::AddedToken* token = added->tokenForId(id))
            return &token->content;
        return model->idToToken(id);
    }

    std::string decodeRange(const std::vector<std::int32_t>& ids, std::size_t begin, std::size_t end,
                            bool skipSpecialTokens) const
    {
        std::vector<std::string> tokens;
        tokens.reserve(end - begin);
        for (std::size_t i = begin; i < end; ++i) {
            const std::string* token = tokenString(ids[i]);
            if (token == nullptr || (skipSpecialTokens && added->isSpecialContent(*token)))
                continue;
            tokens.push_back(*token);
        }
        std::string text;
        if (decoder == nullptr) {
            for (std::size_t i = 0; i < tokens.size(); ++i)
                text += (i > 0 ? " " : "") + tokens[i];
            return text;
        }
        decoder->decodeChain(tokens);
        for (const std::string& part : tokens)
            text += part;
        return text;
    }
};

namespace {

using tok::Json;
using tok::JsonPath;

std::string describeFamily(const Tokenizer::Impl& impl)
{
    const std::string preTokenizer = impl.preTokenizer ? impl.preTokenizer->describe() : std::string();
    const bool byteLevel = preTokenizer.find("ByteLevel") != std::string::npos;
    if (byteLevel && preTokenizer.find("Split") != std::string::npos)
        return "regex-bytelevel";
    if (byteLevel && preTokenizer.find("Digits") != std::string::npos)
        return "digits-bytelevel";
    if (byteLevel)
        return "gpt2-bytelevel";
    if (preTokenizer.find("Metaspace") != std::string::npos || impl.model->byteFallback())
        return "sentencepiece";
    return "bpe";
}

std::string readWholeFile(const std::filesystem::path& file)
{
    std::ifstream stream(file, std::ios::binary);
    if (!stream)
        throw Error(fileError(file.string(), "cannot be opened for reading"));
    std::ostringstream contents;
    contents << stream.rdbuf();
    if (stream.bad())
        throw Error(fileError(file.string(), "could not be read"));
    return contents.str();
}

} // namespace

Tokenizer::Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

Tokenizer Tokenizer::fromFile(const std::string& path)
{
    namespace fs = std::filesystem;
    std::error_code error;
    fs::path file(path);
    if (fs::is_directory(file, error)) {
        file /= "tokenizer.json";
        if (!fs::exists(file, error))
            throw Error(fileError(path, "this model folder has no tokenizer.json (only the Hugging Face "
                                        "tokenizer.json format is supported; save the tokenizer with "
                                        "transformers' save_pretrained to create one)"));
    } else if (!fs::exists(file, error)) {
        throw Error(fileError(path, "no such file or folder"));
    }
    if (!fs::is_regular_file(file, error))
        throw Error(fileError(file.string(), "is not a regular file"));
    constexpr std::uintmax_t kMaxFileBytes = std::uintmax_t{1} << 30;
    const std::uintmax_t size = fs::file_size(file, error);
    if (!error && size > kMaxFileBytes)
        throw Error(fileError(file.string(), "is " + std::to_string(size) +
                                                 " bytes; a tokenizer.json over 1 GiB is not supported"));
    return fromJson(readWholeFile(file), file.string());
}

Tokenizer Tokenizer::fromJson(std::string_view jsonText, const std::string& sourceName)
{
    Json root;
    try {
        root = Json::parse(jsonText.begin(), jsonText.end());
    } catch (const Json::exception& error) {
        throw Error(fileError(sourceName, std::string("is not valid JSON (") + error.what() + ")"));
    }
    const JsonPath top(sourceName, "");
    if (!root.is_object())
        top.fail(std::string("must be a JSON object (got ") + root.type_name() +
                 "); is this a tokenizer.json?");
    try {
        if (const Json* version = tok::optionalMember(root, "version")) {
            if (tok::requireString(*version, top / "version") != "1.0")
                (top / "version")
                    .fail("is \"" + version->get<std::string>() + "\"; only version 1.0 is known");
        }
        auto impl = std::make_shared<Impl>();
        impl->sourceName = sourceName;
        const Json& model = tok::requireMember(root, "model", top);
        const JsonPath modelPath = top / "model";
        const Json* type = tok::optionalMember(model, "type");
        const std::string modelType = type ? tok::requireString(*type, modelPath / "type")
                                           : (tok::optionalMember(model, "merges") ? "BPE" : "unknown");
        if (modelType != "BPE")
            (modelPath / "type")
                .fail("is \"" + modelType +
                      "\"; only BPE tokenizers are supported (GPT-2, Llama 2/3, TinyLlama, Mistral, Qwen2, "
                      "SmolLM)");
        impl->model = std::make_unique<tok::BpeModel>(model, modelPath);
        if (const Json* normalizer = tok::optionalMember(root, "normalizer"))
            impl->normalizer = tok::makeNormalizer(*normalizer, top / "normalizer");
        if (const Json* preTokenizer = tok::optionalMember(root, "pre_tokenizer"))
            impl->preTokenizer = tok::makePreTokenizer(*preTokenizer, top / "pre_tokenizer");
        if (const Json* postProcessor = tok::optionalMember(root, "post_processor"))
            impl->postProcessor = tok::makePostProcessor(*postProcessor, top / "post_processor");
        if (const Json* decoder = tok::optionalMember(root, "decoder"))
            impl->decoder = tok::makeDecoder(*decoder, top / "decoder");
        impl->added = std::make_unique<tok::AddedVocabulary>(tok::optionalMember(root, "added_tokens"),
                                                             top / "added_tokens", *impl->model,
                                                             impl->normalizer.get());
        impl->description = describeFamily(*impl);
        return Tokenizer(std::move(impl));
    } catch (const Json::exception& error) {
        // The checked accessors cover the expected shapes; this is the safety net for the rest.
        throw Error(fileError(sourceName, std::string("has an unexpected structure (") + error.what() + ")"));
    }
}

std::vector<std::int32_t> Tokenizer::encode(std::string_view text, bool addSpecialTokens) const
{
    const Impl& impl = *impl_;
    std::vector<std::int32_t> ids;
    // Pieces address their text with 32-bit offsets, and byte-level images double the size.
    constexpr std::size_t kMaxTextBytes = std::size_t{1} << 30;
    if (text.size() > kMaxTextBytes)
        throw Error("a text of " + std::to_string(text.size()) +
                    " bytes is too long to tokenize at once (at most " + std::to_string(kMaxTextBytes) +
                    "); split it into parts");
    std::string valid = tok::toValidUtf8(text);
    if (!valid.empty()) {
        ids.reserve(valid.size() / 3 + 4);
        tok::PieceList pieces(std::move(valid));
        impl.added->splitRaw(pieces);
        impl.added->normalizeAndSplit(pieces, impl.normalizer.get());
        if (impl.preTokenizer)
            impl.preTokenizer->preTokenize(pieces);
        impl.model->tokenizePieces(pieces, ids);
    }
    if (impl.postProcessor)
        impl.postProcessor->process(ids, addSpecialTokens);
    return ids;
}

std::string Tokenizer::decode(const std::vector<std::int32_t>& ids, bool skipSpecialTokens) const
{
    return impl_->decodeRange(ids, 0, ids.size(), skipSpecialTokens);
}

namespace {

constexpr std::size_t kMaxPendingTokens = 8;

bool endsWithReplacementCharacter(const std::string& text)
{
    return text.size() >= 3 && text.compare(text.size() - 3, 3, "\xEF\xBF\xBD") == 0;
}

std::size_t commonPrefixLength(const std::string& a, const std::string& b)
{
    const std::size_t limit = std::min(a.size(), b.size());
    std::size_t length = 0;
    while (length < limit && a[length] == b[length])
        ++length;
    return length;
}

} // namespace

std::vector<std::string> Tokenizer::decodePieces(const std::vector<std::int32_t>& ids) const
{
    const Impl& impl = *impl_;
    const std::string full = decode(ids);
    std::vector<std::string> pieces(ids.size());
    if (ids.empty())
        return pieces;

    // Decode a short window that starts at the last token whose text was complete: the window's
    // first token gets the same first-token treatment (Strip, Metaspace) in both decodes, so the
    // difference is what token i adds. A text ending in U+FFFD waits for the completing token.
    std::size_t windowStart = 0;
    std::string windowText; // decode(ids[windowStart, i))
    std::string assembled;
    for (std::size_t i = 0; i < ids.size(); ++i) {
        const std::string text = impl.decodeRange(ids, windowStart, i + 1, false);
        // A character spans at most four byte tokens; a longer wait means a U+FFFD that stays.
        const bool waitedLongEnough = i + 1 - windowStart > kMaxPendingTokens;
        if (text.size() < windowText.size() || text.compare(0, windowText.size(), windowText) != 0 ||
            (endsWithReplacementCharacter(text) && !waitedLongEnough))
            continue;
        pieces[i] = text.substr(windowText.size());
        assembled += pieces[i];
        windowStart = i;
        windowText = impl.decodeRange(ids, i, i + 1, false);
    }
    if (assembled.size() <= full.size() && full.compare(0, assembled.size(), assembled) == 0) {
        // Whatever is still pending (an incomplete character at the end) goes to the last token.
        pieces.back() += full.substr(assembled.size());
        return pieces;
    }

    // This decoder is not prefix-stable (e.g. it strips at the end): attribute by the longest
    // common prefix of each decoded prefix with the full text.
    std::fill(pieces.begin(), pieces.end(), std::string());
    std::size_t attributed = 0;
    for (std::size_t i = 0; i < ids.size(); ++i) {
        std::string prefix = impl.decodeRange(ids, 0, i + 1, false);
        while (endsWithReplacementCharacter(prefix))
            prefix.resize(prefix.size() - 3);
        const std::size_t common = i + 1 == ids.size() ? full.size() : commonPrefixLength(prefix, full);
        if (common > attributed) {
            pieces[i] = full.substr(attributed, common - attributed);
            attributed = common;
        }
    }
    return pieces;
}

std::int32_t Tokenizer::vocabSize() const
{
    return std::max(impl_->model->maxId(), impl_->added->maxId()) + 1;
}

std::string Tokenizer::idToToken(std::int32_t id) const
{
    const std::string* token = impl_->tokenString(id);
    return token ? *token : std::string();
}

std::optional<std::int32_t> Tokenizer::tokenToId(std::string_view token) const
{
    if (const auto id = impl_->added->tokenToId(token))
        return id;
    return impl_->model->tokenToId(token);
}

bool Tokenizer::isSpecial(std::int32_t id) const
{
    const std::string* token = impl_->tokenString(id);
    return token != nullptr && impl_->added->isSpecialContent(*token);
}

std::string Tokenizer::description() const
{
    return impl_->description;
}

} // namespace sp
