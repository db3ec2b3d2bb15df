#include "tokenizer/decoders.h"

#include "tokenizer/normalizers.h"
#include "tokenizer/pieces.h"
#include "tokenizer/regex.h"
#include "tokenizer/unicode_text.h"

#include <vector>

namespace sp::tok {

namespace {

constexpr const char* kReplacementCharacter = "\xEF\xBF\xBD";

// Rust's str::replace, including its behaviour for an empty pattern (insert between characters).
std::string replaceAll(std::string_view text, std::string_view from, std::string_view to)
{
    std::string out;
    if (from.empty()) {
        std::size_t pos = 0;
        out.append(to);
        while (pos < text.size()) {
            const std::size_t start = pos;
            decodeUtf8(text, pos);
            out.append(text.substr(start, pos - start));
            out.append(to);
        }
        return out;
    }
    std::size_t start = 0;
    while (true) {
        const std::size_t found = text.find(from, start);
        if (found == std::string_view::npos)
            break;
        out.append(text.substr(start, found - start));
        out.append(to);
        start = found + from.size();
    }
    out.append(text.substr(start));
    return out;
}

class ByteLevelDecoder final : public Decoder {
public:
    void decodeChain(std::vector<std::string>& tokens) const override
    {
        const ByteLevelAlphabet& alphabet = byteLevelAlphabet();
        std::string bytes;
        std::string tokenBytes;
        for (const std::string& token : tokens) {
            tokenBytes.clear();
            bool allMapped = true;
            std::size_t pos = 0;
            while (pos < token.size()) {
                const char32_t c = decodeUtf8(token, pos);
                if (c >= 324 || alphabet.charToByte[c] < 0) {
                    allMapped = false;
                    break;
                }
                tokenBytes.push_back(static_cast<char>(alphabet.charToByte[c]));
            }
            bytes += allMapped ? tokenBytes : token;
        }
        tokens.assign(1, toValidUtf8(bytes));
    }
    std::string describe() const override { return "ByteLevel"; }
};

class ByteFallbackDecoder final : public Decoder {
public:
    void decodeChain(std::vector<std::string>& tokens) const override
    {
        std::vector<std::string> result;
        result.reserve(tokens.size());
        std::string pendingBytes;
        const auto flush = [&]() {
            if (pendingBytes.empty())
                return;
            if (validUtf8Prefix(pendingBytes) == pendingBytes.size()) {
                result.push_back(pendingBytes);
            } else {
                for (std::size_t i = 0; i < pendingBytes.size(); ++i)
                    result.emplace_back(kReplacementCharacter);
            }
            pendingBytes.clear();
        };
        for (std::string& token : tokens) {
            int byte = -1;
            if (token.size() == 6 && token.compare(0, 3, "<0x") == 0 && token[5] == '>')
                byte = parseHexByte(token[3], token[4]);
            if (byte >= 0) {
                pendingBytes.push_back(static_cast<char>(byte));
            } else {
                flush();
                result.push_back(std::move(token));
            }
        }
        flush();
        tokens.swap(result);
    }
    std::string describe() const override { return "ByteFallback"; }

private:
    static int hexValue(char c)
    {
        if (c >= '0' && c <= '9')
            return c - '0';
        if (c >= 'a' && c <= 'f')
            return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
            return c - 'A' + 10;
        return -1;
    }
    // Rust's u8::from_str_radix(.., 16) on two characters, which also accepts a leading '+'.
    static int parseHexByte(char high, char low)
    {
        const int lowValue = hexValue(low);
        if (lowValue < 0)
            return -1;
        if (high == '+')
            return lowValue;
        const int highValue = hexValue(high);
        return highValue < 0 ? -1 : highValue * 16 + lowValue;
    }
};

class MetaspaceDecoder final : public Decoder {
public:
    MetaspaceDecoder(char32_t replacement, bool prependsSpace) : prependsSpace_(prependsSpace)
    {
        appendUtf8(replacement_, replacement);
    }
    void decodeChain(std::vector<std::string>& tokens) const override
    {
        for (std::size_t i = 0; i < tokens.size(); ++i)
            tokens[i] = replaceAll(tokens[i], replacement_, i == 0 && prependsSpace_ ? "" : " ");
    }
    std::string describe() const override { return "Metaspace"; }

private:
    std::string replacement_;
    bool prependsSpace_;
};

class StripDecoder final : public Decoder {
public:
    StripDecoder(char32_t content, std::size_t start, std::size_t stop)
        : content_(content), start_(start), stop_(stop)
    {
    }
    void decodeChain(std::vector<std::string>& tokens) const override
    {
        std::vector<std::size_t> boundaries;
        for (std::string& token : tokens) {
            boundaries.clear();
            std::vector<char32_t> characters;
            std::size_t pos = 0;
            while (pos < token.size()) {
                boundaries.push_back(pos);
                characters.push_back(decodeUtf8(token, pos));
            }
            boundaries.push_back(token.size());
            std::size_t startCut = 0;
            for (std::size_t i = 0; i < characters.size() && i < start_; ++i) {
                if (characters[i] != content_)
                    break;
                startCut = i + 1;
            }
            std::size_t stopCut = characters.size();
            for (std::size_t i = 0; i < stop_ && i < characters.size(); ++i) {
                const std::size_t index = characters.size() - i - 1;
                if (characters[index] != content_)
                    break;
                stopCut = index;
            }
            if (startCut >= stopCut)
                token.clear();
            else
                token = token.substr(boundaries[startCut], boundaries[stopCut] - boundaries[startCut]);
        }
    }
    std::string describe() const override { return "Strip"; }

private:
    char32_t content_;
    std::size_t start_;
    std::size_t stop_;
};

class FuseDecoder final : public Decoder {
public:
    void decodeChain(std::vector<std::string>& tokens) const override
    {
        std::string joined;
        for (const std::string& token : tokens)
            joined += token;
        tokens.assign(1, std::move(joined));
    }
    std::string describe() const override { return "Fuse"; }
};

class ReplaceDecoder final : public Decoder {
public:
    ReplaceDecoder(const std::string& pattern, bool literal, std::string content)
        : regex_(pattern, literal), content_(std::move(content))
    {
    }
    void decodeChain(std::vector<std::string>& tokens) const override
    {
        std::vector<Span> matches;
        std::vector<MatchSpan> spans;
        for (std::string& token : tokens) {
            spansFromRegex(regex_, token, matches, spans);
            std::string replaced;
            for (const MatchSpan& span : spans) {
                if (span.isMatch)
                    replaced += content_;
                else
                    replaced.append(token, span.begin, span.end - span.begin);
            }
            token.swap(replaced);
        }
    }
    std::string describe() const override { return "Replace"; }

private:
    Regex regex_;
    std::string content_;
};

class BpeSuffixDecoder final : public Decoder {
public:
    explicit BpeSuffixDecoder(std::string suffix) : suffix_(std::move(suffix)) {}
    void decodeChain(std::vector<std::string>& tokens) const override
    {
        for (std::size_t i = 0; i < tokens.size(); ++i)
            tokens[i] = replaceAll(tokens[i], suffix_, i + 1 == tokens.size() ? "" : " ");
    }
    std::string describe() const override { return "BPEDecoder"; }

private:
    std::string suffix_;
};

class WordPieceDecoder final : public Decoder {
public:
    WordPieceDecoder(std::string prefix, bool cleanup) : prefix_(std::move(prefix)), cleanup_(cleanup) {}
    void decodeChain(std::vector<std::string>& tokens) const override
    {
        for (std::size_t i = 0; i < tokens.size(); ++i) {
            std::string& token = tokens[i];
            if (i != 0) {
                if (token.compare(0, prefix_.size(), prefix_) == 0)
                    token.erase(0, prefix_.size());
                else
                    token.insert(0, " ");
            }
            if (cleanup_) {
                static const char* const kPairs[][2] = {
                    {" .", "."},   {" ?", "?"},     {" !", "!"},    {" ,", ","},
                    {" ' ", "'"},  {" n't", "n't"}, {" 'm", "'m"},  {" do not", " don't"},
                    {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
                for (const auto& pair : kPairs)
                    token = replaceAll(token, pair[0], pair[1]);
            }
        }
    }
    std::string describe() const override { return "WordPiece"; }

private:
    std::string prefix_;
    bool cleanup_;
};

class SequenceDecoder final : public Decoder {
public:
    explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> steps) : steps_(std::move(steps)) {}
    void decodeChain(std::vector<std::string>& tokens) const override
    {
        for (const auto& step : steps_)
            step->decodeChain(tokens);
    }
    std::string describe() const override { return describeSequence(steps_); }

private:
    std::vector<std::unique_ptr<Decoder>> steps_;
};

bool metaspacePrependsSpace(const Json& config, const JsonPath& path)
{
    if (const Json* value = optionalMember(config, "prepend_scheme")) {
        const std::string name = requireString(*value, path / "prepend_scheme");
        if (name != "always" && name != "never" && name != "first")
            (path / "prepend_scheme").fail("is \"" + name + "\" (expected always, never or first)");
        return name != "never" && boolMember(config, "add_prefix_space", true, path);
    }
    return boolMember(config, "add_prefix_space", true, path);
}

} // namespace

std::unique_ptr<Decoder> makeDecoder(const Json& config, const JsonPath& path)
{
    const std::string type = stringMember(config, "type", path);
    if (type == "ByteLevel")
        return std::make_unique<ByteLevelDecoder>();
    if (type == "ByteFallback")
        return std::make_unique<ByteFallbackDecoder>();
    if (type == "Metaspace")
        return std::make_unique<MetaspaceDecoder>(charMember(config, "replacement", U'\u2581', path),
                                                  metaspacePrependsSpace(config, path));
    if (type == "Strip") {
        constexpr std::uint64_t kMaxStrip = 1u << 20;
        return std::make_unique<StripDecoder>(charMember(config, "content", U' ', path),
                                              unsignedMember(config, "start", 0, kMaxStrip, path),
                                              unsignedMember(config, "stop", 0, kMaxStrip, path));
    }
    if (type == "Fuse")
        return std::make_unique<FuseDecoder>();
    if (type == "Replace") {
        const auto [pattern, literal] = patternMember(config, path);
        const std::string content = stringMember(config, "content", path);
        return rethrowWithPath(path / "pattern",
                               [&, pattern = pattern, literal = literal]() -> std::unique_ptr<Decoder> {
                                   return std::make_unique<ReplaceDecoder>(pattern, literal, content);
                               });
    }
    if (type == "BPEDecoder") {
        const Json* suffix = optionalMember(config, "suffix");
        return std::make_unique<BpeSuffixDecoder>(suffix ? requireString(*suffix, path / "suffix") : "</w>");
    }
    if (type == "WordPiece") {
        const Json* prefix = optionalMember(config, "prefix");
        return std::make_unique<WordPieceDecoder>(prefix ? requireString(*prefix, path / "prefix") : "##",
                                                  boolMember(config, "cleanup", true, path));
    }
    if (type == "Sequence")
        return std::make_unique<SequenceDecoder>(sequenceSteps(config, "decoders", path, &makeDecoder));
    (path / "type")
        .fail("is \"" + type +
              "\", which is not supported (supported decoders: ByteLevel, ByteFallback, Metaspace, Strip, "
              "Fuse, "
              "Replace, BPEDecoder, WordPiece, Sequence)");
}

} // namespace sp::tok
