#include "tokenizer/added_vocabulary.h"

#include "tokenizer/bpe_model.h"
#include "tokenizer/normalizers.h"
#include "tokenizer/unicode_text.h"

#include <algorithm>

namespace sp::tok {

// ---- LeftmostLongestMatcher ------------------------------------------------------------------

std::int32_t LeftmostLongestMatcher::child(std::int32_t node, unsigned char byte) const
{
    const auto& children = nodes_[static_cast<std::size_t>(node)].children;
    const auto it = std::lower_bound(children.begin(), children.end(), byte,
                                     [](const auto& entry, unsigned char b) { return entry.first < b; });
    return it != children.end() && it->first == byte ? it->second : -1;
}

void LeftmostLongestMatcher::addPattern(std::string_view pattern, std::int32_t value)
{
    if (pattern.empty())
        return;
    std::int32_t node = 0;
    for (const char ch : pattern) {
        const auto byte = static_cast<unsigned char>(ch);
        std::int32_t next = child(node, byte);
        if (next < 0) {
            next = static_cast<std::int32_t>(nodes_.size());
            nodes_.emplace_back();
            auto& children = nodes_[static_cast<std::size_t>(node)].children;
            const auto it =
                std::lower_bound(children.begin(), children.end(), byte,
                                 [](const auto& entry, unsigned char b) { return entry.first < b; });
            children.insert(it, {byte, next});
        }
        node = next;
    }
    Node& end = nodes_[static_cast<std::size_t>(node)];
    // The first of two identical patterns wins, as in the Aho-Corasick automaton.
    if (!end.terminal) {
        end.terminal = true;
        end.value = value;
    }
    firstByte_[static_cast<unsigned char>(pattern[0])] = true;
    ++patternCount_;
}

void LeftmostLongestMatcher::findAll(std::string_view text, std::vector<Match>& matches) const
{
    matches.clear();
    std::size_t pos = 0;
    while (pos < text.size()) {
        if (!firstByte_[static_cast<unsigned char>(text[pos])]) {
            ++pos;
            continue;
        }
        std::int32_t node = 0;
        std::size_t bestEnd = 0;
        std::int32_t bestValue = -1;
        for (std::size_t j = pos; j < text.size(); ++j) {
            node = child(node, static_cast<unsigned char>(text[j]));
            if (node < 0)
                break;
            if (nodes_[static_cast<std::size_t>(node)].terminal) {
                bestEnd = j + 1;
                bestValue = nodes_[static_cast<std::size_t>(node)].value;
            }
        }
        if (bestValue >= 0) {
            matches.push_back({pos, bestEnd, bestValue});
            pos = bestEnd;
        } else {
            ++pos;
        }
    }
}

// ---- AddedVocabulary -------------------------------------------------------------------------

namespace {

// Rust regex's Unicode \w, which decides single_word boundaries.
bool isRustWordCharacter(char32_t c)
{
    if (c < 0x80)
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    static const Regex word(R"(^[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]$)", false);
    std::string encoded;
    appendUtf8(encoded, c);
    Span match;
    return word.search(encoded, 0, match);
}

char32_t lastCharacter(std::string_view text)
{
    std::size_t start = text.size() - 1;
    while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80)
        --start;
    return decodeUtf8(text, start);
}

// Start of the whitespace run that ends `text` (Rust: \s*$).
std::size_t trailingWhitespaceStart(std::string_view text)
{
    std::size_t end = text.size();
    while (end > 0) {
        std::size_t start = end - 1;
        while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80)
            --start;
        std::size_t next = start;
        if (!isWhitespace(decodeUtf8(text, next)))
            break;
        end = start;
    }
    return end;
}

// Length of the whitespace run that starts `text` (Rust: ^\s*).
std::size_t leadingWhitespaceLength(std::string_view text)
{
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t next = pos;
        if (!isWhitespace(decodeUtf8(text, next)))
            break;
        pos = next;
    }
    return pos;
}

} // namespace

AddedVocabulary::AddedVocabulary(const Json* tokens, const JsonPath& path, const BpeModel& model,
                                 const Normalizer* normalizer)
{
    std::vector<AddedToken> parsed;
    if (tokens != nullptr) {
        if (!tokens->is_array())
            path.fail(std::string("must be an array (got ") + jsonTypeName(*tokens) + ")");
        for (std::size_t i = 0; i < tokens->size(); ++i) {
            const Json& entry = (*tokens)[i];
            const JsonPath entryPath = path[i];
            AddedToken token;
            token.content = stringMember(entry, "content", entryPath);
            requireTokenId(requireMember(entry, "id", entryPath), entryPath / "id");
            token.special = boolMember(entry, "special", false, entryPath);
            token.singleWord = boolMember(entry, "single_word", false, entryPath);
            token.lstrip = boolMember(entry, "lstrip", false, entryPath);
            token.rstrip = boolMember(entry, "rstrip", false, entryPath);
            token.normalized = boolMember(entry, "normalized", !token.special, entryPath);
            parsed.push_back(std::move(token));
        }
    }

    std::vector<const AddedToken*> specialTokens;
    for (const AddedToken& token : parsed) {
        if (token.special && !token.content.empty() && specialContents_.insert(token.content).second)
            specialTokens.push_back(&token);
    }
    std::vector<const AddedToken*> plainTokens;
    const auto entryCount = static_cast<std::int64_t>(model.entryCount());
    for (const AddedToken& token : parsed) {
        const bool registered =
            std::any_of(byId_.begin(), byId_.end(), [&](const auto& entry) { return entry.second == token; });
        if (token.content.empty() || registered)
            continue;
        std::int64_t id = -1;
        if (const auto known = tokenToId(token.content))
            id = *known;
        else if (const auto inModel = model.tokenToId(token.content))
            id = *inModel;
        else if (idByContent_.empty())
            id = entryCount;
        else {
            std::int64_t maxAdded = -1;
            for (const auto& entry : idByContent_)
                maxAdded = std::max<std::int64_t>(maxAdded, entry.second);
            id = (maxAdded >= entryCount || entryCount == 0) ? maxAdded + 1 : entryCount;
        }
        if (id > kMaxTokenId)
            path.fail("gives the token \"" + token.content + "\" an id above the supported " +
                      std::to_string(kMaxTokenId));
        idByContent_[token.content] = static_cast<std::int32_t>(id);
        byId_[static_cast<std::int32_t>(id)] = token;
        maxId_ = std::max(maxId_, static_cast<std::int32_t>(id));
        if (specialContents_.count(token.content) == 0)
            plainTokens.push_back(&token);
    }

    // Special tokens first, then the others, as the Rust crate builds its two tries.
    std::vector<const AddedToken*> ordered = specialTokens;
    ordered.insert(ordered.end(), plainTokens.begin(), plainTokens.end());
    for (const AddedToken* token : ordered) {
        std::optional<std::int32_t> id = tokenToId(token->content);
        if (!id)
            id = model.tokenToId(token->content);
        if (!id)
            continue;
        if (token->normalized) {
            std::string pattern = token->content;
            if (normalizer != nullptr)
                normalizer->normalize(pattern);
            normalizedMatcher_.addPattern(pattern, *id);
        } else {
            rawMatcher_.addPattern(token->content, *id);
        }
    }
}

std::optional<std::int32_t> AddedVocabulary::tokenToId(std::string_view content) const
{
    const auto it = idByContent_.find(std::string(content));
    if (it == idByContent_.end())
        return std::nullopt;
    return it->second;
}

const AddedToken* AddedVocabulary::tokenForId(std::int32_t id) const
{
    const auto it = byId_.find(id);
    return it == byId_.end() ? nullptr : &it->second;
}

bool AddedVocabulary::isSpecialContent(std::string_view content) const
{
    return !specialContents_.empty() && specialContents_.count(std::string(content)) > 0;
}

void AddedVocabulary::splitWith(PieceList& pieces, const LeftmostLongestMatcher& matcher, const Piece& piece,
                                std::vector<Piece>& out) const
{
    const std::string_view sentence = pieces.text(piece);
    thread_local std::vector<LeftmostLongestMatcher::Match> matches;
    matcher.findAll(sentence, matches);
    const auto emit = [&](std::size_t begin, std::size_t end, std::int32_t tokenId) {
        Piece part;
        part.buffer = piece.buffer;
        part.begin = piece.begin + static_cast<std::uint32_t>(begin);
        part.end = piece.begin + static_cast<std::uint32_t>(end);
        part.atOriginalStart = piece.atOriginalStart && begin == 0;
        part.tokenId = tokenId;
        if (begin != end)
            out.push_back(part);
    };
    std::size_t startOffset = 0;
    for (const auto& match : matches) {
        std::size_t start = match.begin;
        std::size_t stop = match.end;
        const AddedToken* token = tokenForId(match.value);
        if (token == nullptr)
            continue;
        if (token->singleWord) {
            const bool spaceBefore =
                start == 0 || !isRustWordCharacter(lastCharacter(sentence.substr(0, start)));
            std::size_t next = stop;
            const bool spaceAfter =
                stop == sentence.size() || !isRustWordCharacter(decodeUtf8(sentence, next));
            if (!spaceBefore || !spaceAfter)
                continue;
        }
        if (token->lstrip)
            start = std::max(trailingWhitespaceStart(sentence.substr(0, start)), startOffset);
        if (token->rstrip)
            stop += leadingWhitespaceLength(sentence.substr(stop));
        if (startOffset < start)
            emit(startOffset, start, -1);
        // An rstrip of the previous token may already have consumed part of this match.
        emit(std::min(start, stop), stop, match.value);
        startOffset = stop;
    }
    if (startOffset < sentence.size())
        emit(startOffset, sentence.size(), -1);
}

void AddedVocabulary::splitRaw(PieceList& pieces) const
{
    if (rawMatcher_.empty())
        return;
    pieces.splitEach(
        [&](const Piece& piece, std::vector<Piece>& out) { splitWith(pieces, rawMatcher_, piece, out); });
}

void AddedVocabulary::normalizeAndSplit(PieceList& pieces, const Normalizer* normalizer) const
{
    if (normalizer != nullptr) {
        for (Piece& piece : pieces.pieces()) {
            if (piece.tokenId >= 0)
                continue;
            std::string text(pieces.text(piece));
            normalizer->normalize(text);
            const auto length = static_cast<std::uint32_t>(text.size());
            piece.buffer = pieces.addBuffer(std::move(text));
            piece.begin = 0;
            piece.end = length;
        }
    }
    if (normalizedMatcher_.empty()) {
        pieces.splitEach([](const Piece& piece, std::vector<Piece>& out) { out.push_back(piece); });
        return;
    }
    pieces.splitEach([&](const Piece& piece, std::vector<Piece>& out) {
        splitWith(pieces, normalizedMatcher_, piece, out);
    });
}

} // namespace sp::tok
