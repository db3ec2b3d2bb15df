#include "tokenizer/normalizers.h"

#include "tokenizer/pieces.h"
#include "tokenizer/regex.h"
#include "tokenizer/unicode_text.h"

#include <vector>

namespace sp::tok {

namespace {

ByteLevelAlphabet buildByteLevelAlphabet()
{
    ByteLevelAlphabet alphabet;
    for (int& entry : alphabet.charToByte)
        entry = -1;
    // Printable Latin-1 bytes stand for themselves; the others are shifted above U+00FF in order.
    const auto standsForItself = [](int b) {
        return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    };
    int shifted = 0;
    for (int b = 0; b < 256; ++b) {
        const char32_t c =
            standsForItself(b) ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + shifted++);
        std::string utf8;
        appendUtf8(utf8, c);
        alphabet.imageLength[b] = static_cast<unsigned char>(utf8.size());
        alphabet.image[b][0] = utf8[0];
        alphabet.image[b][1] = utf8.size() > 1 ? utf8[1] : '\0';
        alphabet.charToByte[c] = b;
    }
    return alphabet;
}

class UnicodeNormalizer final : public Normalizer {
public:
    explicit UnicodeNormalizer(NormalForm form) : form_(form) {}
    void normalize(std::string& text) const override { text = normalizeUnicode(text, form_); }

private:
    NormalForm form_;
};

class LowercaseNormalizer final : public Normalizer {
public:
    void normalize(std::string& text) const override { text = lowercase(text); }
};

class StripNormalizer final : public Normalizer {
public:
    StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
    void normalize(std::string& text) const override
    {
        std::size_t begin = 0;
        std::size_t end = text.size();
        if (left_) {
            while (begin < end) {
                std::size_t next = begin;
                if (!isWhitespace(decodeUtf8(text, next)))
                    break;
                begin = next;
            }
        }
        if (right_) {
            while (end > begin) {
                std::size_t start = end - 1;
                while (start > begin && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80)
                    --start;
                std::size_t next = start;
                if (!isWhitespace(decodeUtf8(text, next)))
                    break;
                end = start;
            }
        }
        text = text.substr(begin, end - begin);
    }

private:
    bool left_;
    bool right_;
};

class StripAccentsNormalizer final : public Normalizer {
public:
    void normalize(std::string& text) const override
    {
        std::string out;
        out.reserve(text.size());
        std::size_t pos = 0;
        while (pos < text.size()) {
            const std::size_t start = pos;
            if (!isCombiningMark(decodeUtf8(text, pos)))
                out.append(text, start, pos - start);
        }
        text.swap(out);
    }
};

class ReplaceNormalizer final : public Normalizer {
public:
    ReplaceNormalizer(const std::string& pattern, bool literal, std::string content)
        : regex_(pattern, literal), content_(std::move(content))
    {
    }
    void normalize(std::string& text) const override
    {
        std::vector<Span> matches;
        std::vector<MatchSpan> spans;
        spansFromRegex(regex_, text, matches, spans);
        std::string out;
        out.reserve(text.size());
        for (const MatchSpan& span : spans) {
            if (span.isMatch)
                out += content_;
            else
                out.append(text, span.begin, span.end - span.begin);
        }
        text.swap(out);
    }

private:
    Regex regex_;
    std::string content_;
};

class PrependNormalizer final : public Normalizer {
public:
    explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
    void normalize(std::string& text) const override
    {
        if (!text.empty())
            text.insert(0, prefix_);
    }

private:
    std::string prefix_;
};

class ByteLevelNormalizer final : public Normalizer {
public:
    void normalize(std::string& text) const override
    {
        std::string out;
        out.reserve(text.size() * 2);
        appendByteLevelImage(out, text);
        text.swap(out);
    }
};

class SequenceNormalizer final : public Normalizer {
public:
    explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> steps) : steps_(std::move(steps)) {}
    void normalize(std::string& text) const override
    {
        for (const auto& step : steps_)
            step->normalize(text);
    }

private:
    std::vector<std::unique_ptr<Normalizer>> steps_;
};

} // namespace

const ByteLevelAlphabet& byteLevelAlphabet()
{
    static const ByteLevelAlphabet alphabet = buildByteLevelAlphabet();
    return alphabet;
}

void appendByteLevelImage(std::string& out, std::string_view text)
{
    const ByteLevelAlphabet& alphabet = byteLevelAlphabet();
    const std::size_t start = out.size();
    out.resize(start + 2 * text.size());
    char* write = &out[start];
    for (const char byte : text) {
        const auto b = static_cast<unsigned char>(byte);
        write[0] = alphabet.image[b][0];
        write[1] = alphabet.image[b][1];
        write += alphabet.imageLength[b];
    }
    out.resize(static_cast<std::size_t>(write - out.data()));
}

// {"String": "..."} or {"Regex": "..."}, as used by Replace and Split.
std::pair<std::string, bool> patternMember(const Json& config, const JsonPath& path)
{
    const Json& pattern = requireMember(config, "pattern", path);
    const JsonPath patternPath = path / "pattern";
    if (const Json* literal = optionalMember(pattern, "String"))
        return {requireString(*literal, patternPath / "String"), true};
    if (const Json* regex = optionalMember(pattern, "Regex"))
        return {requireString(*regex, patternPath / "Regex"), false};
    patternPath.fail("must be {\"String\": ...} or {\"Regex\": ...}");
}

std::unique_ptr<Normalizer> makeNormalizer(const Json& config, const JsonPath& path)
{
    const std::string type = stringMember(config, "type", path);
    if (type == "NFC")
        return std::make_unique<UnicodeNormalizer>(NormalForm::NFC);
    if (type == "NFD")
        return std::make_unique<UnicodeNormalizer>(NormalForm::NFD);
    if (type == "NFKC")
        return std::make_unique<UnicodeNormalizer>(NormalForm::NFKC);
    if (type == "NFKD")
        return std::make_unique<UnicodeNormalizer>(NormalForm::NFKD);
    if (type == "Lowercase")
        return std::make_unique<LowercaseNormalizer>();
    if (type == "Strip")
        return std::make_unique<StripNormalizer>(boolMember(config, "strip_left", false, path),
                                                 boolMember(config, "strip_right", false, path));
    if (type == "StripAccents")
        return std::make_unique<StripAccentsNormalizer>();
    if (type == "Replace") {
        const auto [pattern, literal] = patternMember(config, path);
        const std::string content = stringMember(config, "content", path);
        return rethrowWithPath(path / "pattern",
                               [&, pattern = pattern, literal = literal]() -> std::unique_ptr<Normalizer> {
                                   return std::make_unique<ReplaceNormalizer>(pattern, literal, content);
                               });
    }
    if (type == "Prepend")
        return std::make_unique<PrependNormalizer>(stringMember(config, "prepend", path));
    if (type == "ByteLevel")
        return std::make_unique<ByteLevelNormalizer>();
    if (type == "Sequence")
        return std::make_unique<SequenceNormalizer>(
            sequenceSteps(config, "normalizers", path, &makeNormalizer));
    (path / "type")
        .fail("is \"" + type +
              "\", which is not supported (supported normalizers: NFC, NFD, NFKC, NFKD, Lowercase, Strip, "
              "StripAccents, Replace, Prepend, ByteLevel, Sequence)");
}

} // namespace sp::tok
