#include "tokenizer/pre_tokenizers.h"

#include "tokenizer/normalizers.h"
#include "tokenizer/unicode_text.h"

#include <vector>

namespace sp::tok {

namespace {

SplitBehavior behaviorMember(const Json& config, const JsonPath& path, SplitBehavior fallback)
{
    const Json* value = optionalMember(config, "behavior");
    if (value == nullptr)
        return fallback;
    const std::string name = requireString(*value, path / "behavior");
    if (name == "Removed")
        return SplitBehavior::Removed;
    if (name == "Isolated")
        return SplitBehavior::Isolated;
    if (name == "MergedWithPrevious")
        return SplitBehavior::MergedWithPrevious;
    if (name == "MergedWithNext")
        return SplitBehavior::MergedWithNext;
    if (name == "Contiguous")
        return SplitBehavior::Contiguous;
    (path / "behavior")
        .fail("is \"" + name +
              "\" (expected Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous)");
}

template <typename Predicate>
void splitByPredicate(PieceList& pieces, Predicate&& predicate, SplitBehavior behavior)
{
    pieces.splitEach([&](const Piece& piece, std::vector<Piece>& out) {
        spansFromPredicate(pieces.text(piece), predicate, pieces.spans);
        pieces.splitBySpans(piece, pieces.spans, behavior, out);
    });
}

void splitByRegex(PieceList& pieces, const Regex& regex, SplitBehavior behavior, bool invert)
{
    if (behavior == SplitBehavior::Isolated) {
        // Gaps and matches alike become pieces (so inverting changes nothing): the common case of
        // GPT-2-style regexes, done without intermediate span lists.
        pieces.splitEach([&](const Piece& piece, std::vector<Piece>& out) {
            const std::string_view text = pieces.text(piece);
            std::size_t previous = 0;
            regex.forEachMatch(text, [&](const Span& match) {
                if (previous < match.begin)
                    out.push_back(PieceList::subPiece(piece, previous, match.begin));
                if (match.begin < match.end)
                    out.push_back(PieceList::subPiece(piece, match.begin, match.end));
                previous = match.end;
            });
            if (previous < text.size())
                out.push_back(PieceList::subPiece(piece, previous, text.size()));
        });
        return;
    }
    pieces.splitEach([&](const Piece& piece, std::vector<Piece>& out) {
        spansFromRegex(regex, pieces.text(piece), pieces.regexMatches, pieces.spans);
        if (invert) {
            for (MatchSpan& span : pieces.spans)
                span.isMatch = !span.isMatch;
        }
        pieces.splitBySpans(piece, pieces.spans, behavior, out);
    });
}

class ByteLevelPreTokenizer final : public PreTokenizer {
public:
    ByteLevelPreTokenizer(bool addPrefixSpace, bool useRegex)
        : addPrefixSpace_(addPrefixSpace), useRegex_(useRegex)
    {
    }

    void preTokenize(PieceList& pieces) const override
    {
        if (addPrefixSpace_) {
            for (Piece& piece : pieces.pieces()) {
                if (piece.tokenId >= 0 || pieces.text(piece).empty() || pieces.text(piece)[0] == ' ')
                    continue;
                std::string prefixed = " " + std::string(pieces.text(piece));
                const auto length = static_cast<std::uint32_t>(prefixed.size());
                piece.buffer = pieces.addBuffer(std::move(prefixed));
                piece.begin = 0;
                piece.end = length;
            }
        }
        if (useRegex_)
            splitByRegex(pieces, gpt2SplitRegex(), SplitBehavior::Isolated, false);
        // Map every byte of every piece to its character, all into one new buffer.
        std::size_t total = 0;
        for (const Piece& piece : pieces.pieces())
            total += piece.tokenId < 0 ? piece.end - piece.begin : 0;
        const std::uint32_t buffer = pieces.addBuffer(std::string());
        std::string& image = pieces.buffer(buffer);
        image.reserve(2 * total);
        for (Piece& piece : pieces.pieces()) {
            if (piece.tokenId >= 0)
                continue;
            const auto begin = static_cast<std::uint32_t>(image.size());
            appendByteLevelImage(image, pieces.text(piece));
            piece.buffer = buffer;
            piece.begin = begin;
            piece.end = static_cast<std::uint32_t>(image.size());
        }
    }

    std::string describe() const override { return useRegex_ ? "ByteLevel(regex)" : "ByteLevel"; }

private:
    bool addPrefixSpace_;
    bool useRegex_;
};

class SplitPreTokenizer final : public PreTokenizer {
public:
    SplitPreTokenizer(const std::string& pattern, bool literal, SplitBehavior behavior, bool invert)
        : regex_(pattern, literal), behavior_(behavior), invert_(invert)
    {
    }
    void preTokenize(PieceList& pieces) const override { splitByRegex(pieces, regex_, behavior_, invert_); }
    std::string describe() const override { return "Split"; }

private:
    Regex regex_;
    SplitBehavior behavior_;
    bool invert_;
};

class DigitsPreTokenizer final : public PreTokenizer {
public:
    explicit DigitsPreTokenizer(bool individualDigits) : individualDigits_(individualDigits) {}
    void preTokenize(PieceList& pieces) const override
    {
        splitByPredicate(pieces, isNumeric,
                         individualDigits_ ? SplitBehavior::Isolated : SplitBehavior::Contiguous);
    }
    std::string describe() const override { return "Digits"; }

private:
    bool individualDigits_;
};

enum class PrependScheme { Always, Never, First };

class MetaspacePreTokenizer final : public PreTokenizer {
public:
    MetaspacePreTokenizer(char32_t replacement, PrependScheme scheme, bool split)
        : replacement_(replacement), scheme_(scheme), split_(split)
    {
        appendUtf8(replacementText_, replacement);
    }

    void preTokenize(PieceList& pieces) const override
    {
        const std::uint32_t buffer = pieces.addBuffer(std::string());
        std::string& rewritten = pieces.buffer(buffer);
        for (Piece& piece : pieces.pieces()) {
            if (piece.tokenId >= 0)
                continue;
            const auto begin = static_cast<std::uint32_t>(rewritten.size());
            const std::string_view text = pieces.text(piece);
            const bool startsWithReplacement = text.substr(0, replacementText_.size()) == replacementText_ ||
                                               (!text.empty() && text[0] == ' ');
            const bool prepend =
                !startsWithReplacement && (scheme_ == PrependScheme::Always ||
                                           (scheme_ == PrependScheme::First && piece.atOriginalStart));
            if (prepend)
                rewritten += replacementText_;
            for (const char c : text) {
                if (c == ' ')
                    rewritten += replacementText_;
                else
                    rewritten.push_back(c);
            }
            piece.buffer = buffer;
            piece.begin = begin;
            piece.end = static_cast<std::uint32_t>(rewritten.size());
        }
        if (split_) {
            const char32_t replacement = replacement_;
            splitByPredicate(
                pieces, [replacement](char32_t c) { return c == replacement; },
                SplitBehavior::MergedWithNext);
        }
    }

    std::string describe() const override { return "Metaspace"; }

private:
    char32_t replacement_;
    std::string replacementText_;
    PrependScheme scheme_;
    bool split_;
};

class RegexSplitPreTokenizer final : public PreTokenizer {
public:
    // A fixed PCRE2 pattern (Whitespace's \w+|[^\w\s]+ with Rust regex semantics).
    RegexSplitPreTokenizer(const std::string& pattern, SplitBehavior behavior, bool invert, std::string name)
        : regex_(pattern, false), behavior_(behavior), invert_(invert), name_(std::move(name))
    {
    }
    void preTokenize(PieceList& pieces) const override { splitByRegex(pieces, regex_, behavior_, invert_); }
    std::string describe() const override { return name_; }

private:
    Regex regex_;
    SplitBehavior behavior_;
    bool invert_;
    std::string name_;
};

class PredicatePreTokenizer final : public PreTokenizer {
public:
    enum class Kind { Whitespace, Punctuation, Bert, Delimiter };
    PredicatePreTokenizer(Kind kind, SplitBehavior behavior, char32_t delimiter, std::string name)
        : kind_(kind), behavior_(behavior), delimiter_(delimiter), name_(std::move(name))
    {
    }
    void preTokenize(PieceList& pieces) const override
    {
        switch (kind_) {
        case Kind::Whitespace:
            splitByPredicate(pieces, isWhitespace, SplitBehavior::Removed);
            break;
        case Kind::Punctuation:
            splitByPredicate(pieces, isPunctuation, behavior_);
            break;
        case Kind::Bert:
            splitByPredicate(pieces, isWhitespace, SplitBehavior::Removed);
            splitByPredicate(pieces, isPunctuation, SplitBehavior::Isolated);
            break;
        case Kind::Delimiter: {
            const char32_t delimiter = delimiter_;
            splitByPredicate(
                pieces, [delimiter](char32_t c) { return c == delimiter; }, SplitBehavior::Removed);
            break;
        }
        }
    }
    std::string describe() const override { return name_; }

private:
    Kind kind_;
    SplitBehavior behavior_;
    char32_t delimiter_;
    std::string name_;
};

class SequencePreTokenizer final : public PreTokenizer {
public:
    explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> steps) : steps_(std::move(steps))
    {
    }
    void preTokenize(PieceList& pieces) const override
    {
        for (const auto& step : steps_)
            step->preTokenize(pieces);
    }
    std::string describe() const override { return describeSequence(steps_); }

private:
    std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

PrependScheme prependSchemeMember(const Json& config, const JsonPath& path)
{
    PrependScheme scheme = PrependScheme::Always;
    if (const Json* value = optionalMember(config, "prepend_scheme")) {
        const std::string name = requireString(*value, path / "prepend_scheme");
        if (name == "always")
            scheme = PrependScheme::Always;
        else if (name == "never")
            scheme = PrependScheme::Never;
        else if (name == "first")
            scheme = PrependScheme::First;
        else
            (path / "prepend_scheme").fail("is \"" + name + "\" (expected always, never or first)");
    }
    // Files from before prepend_scheme existed say add_prefix_space instead.
    if (!boolMember(config, "add_prefix_space", true, path)) {
        if (scheme != PrependScheme::Never && optionalMember(config, "prepend_scheme") != nullptr)
            (path / "add_prefix_space").fail("is false but prepend_scheme is not \"never\"");
        scheme = PrependScheme::Never;
    }
    return scheme;
}

} // namespace

const Regex& gpt2SplitRegex()
{
    static const Regex regex(R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)",
                             false);
    return regex;
}

std::unique_ptr<PreTokenizer> makePreTokenizer(const Json& config, const JsonPath& path)
{
    const std::string type = stringMember(config, "type", path);
    if (type == "ByteLevel")
        return std::make_unique<ByteLevelPreTokenizer>(boolMember(config, "add_prefix_space", true, path),
                                                       boolMember(config, "use_regex", true, path));
    if (type == "Split") {
        const auto [pattern, literal] = patternMember(config, path);
        const SplitBehavior behavior = behaviorMember(config, path, SplitBehavior::Removed);
        const bool invert = boolMember(config, "invert", false, path);
        return rethrowWithPath(
            path / "pattern", [&, pattern = pattern, literal = literal]() -> std::unique_ptr<PreTokenizer> {
                return std::make_unique<SplitPreTokenizer>(pattern, literal, behavior, invert);
            });
    }
    if (type == "Digits")
        return std::make_unique<DigitsPreTokenizer>(boolMember(config, "individual_digits", false, path));
    if (type == "Metaspace")
        return std::make_unique<MetaspacePreTokenizer>(charMember(config, "replacement", U'\u2581', path),
                                                       prependSchemeMember(config, path),
                                                       boolMember(config, "split", true, path));
    if (type == "Whitespace") {
        const std::string word = R"(\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control})";
        return std::make_unique<RegexSplitPreTokenizer>("[" + word + "]+|[^" + word + R"(\p{White_Space}]+)",
                                                        SplitBehavior::Removed, true, "Whitespace");
    }
    if (type == "WhitespaceSplit")
        return std::make_unique<PredicatePreTokenizer>(PredicatePreTokenizer::Kind::Whitespace,
                                                       SplitBehavior::Removed, U' ', "WhitespaceSplit");
    if (type == "Punctuation")
        return std::make_unique<PredicatePreTokenizer>(PredicatePreTokenizer::Kind::Punctuation,
                                                       behaviorMember(config, path, SplitBehavior::Isolated),
                                                       U' ', "Punctuation");
    if (type == "BertPreTokenizer")
        return std::make_unique<PredicatePreTokenizer>(PredicatePreTokenizer::Kind::Bert,
                                                       SplitBehavior::Removed, U' ', "BertPreTokenizer");
    if (type == "CharDelimiterSplit")
        return std::make_unique<PredicatePreTokenizer>(
            PredicatePreTokenizer::Kind::Delimiter, SplitBehavior::Removed,
            charMember(config, "delimiter", U' ', path), "CharDelimiterSplit");
    if (type == "Sequence")
        return std::make_unique<SequencePreTokenizer>(
            sequenceSteps(config, "pretokenizers", path, &makePreTokenizer));
    (path / "type")
        .fail("is \"" + type +
              "\", which is not supported (supported pre-tokenizers: ByteLevel, Split, Digits, Metaspace, "
              "Whitespace, WhitespaceSplit, Punctuation, BertPreTokenizer, CharDelimiterSplit, Sequence)");
}

} // namespace sp::tok
