#pragma once
// The text of one encode() call as it moves through added-token splitting, normalisation and
// pre-tokenisation: a list of pieces, each a byte range of one of a few text buffers (the
// equivalent of the Rust crate's PreTokenizedString, without offset tracking).
#include "tokenizer/regex.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sp::tok {

struct Piece {
    std::uint32_t buffer = 0;
    std::uint32_t begin = 0;
    std::uint32_t end = 0;
    // True when the piece starts at offset 0 of the original input (Metaspace's "first" scheme).
    bool atOriginalStart = false;
    // An added token already recognised here, or -1 when the model still has to tokenize it.
    std::int32_t tokenId = -1;
};

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

// One stretch of a piece's text and whether it is a delimiter match (Pattern::find_matches).
struct MatchSpan {
    std::size_t begin = 0;
    std::size_t end = 0;
    bool isMatch = false;
};

class PieceList {
public:
    explicit PieceList(std::string text);

    std::vector<Piece>& pieces() { return pieces_; }
    const std::vector<Piece>& pieces() const { return pieces_; }
    std::string_view text(const Piece& piece) const
    {
        return std::string_view(buffers_[piece.buffer]).substr(piece.begin, piece.end - piece.begin);
    }
    // Stores a new text buffer and returns its index (pieces address buffers by index, so adding
    // one never invalidates them).
    std::uint32_t addBuffer(std::string text);
    std::string& buffer(std::uint32_t index) { return buffers_[index]; }

    // Replaces every piece that is still to be tokenized by the pieces `splitter` appends for it;
    // empty pieces are dropped, as the Rust crate drops them.
    template <typename Splitter> void splitEach(Splitter&& splitter)
    {
        scratchPieces_.clear();
        for (const Piece& piece : pieces_) {
            if (piece.tokenId >= 0) {
                scratchPieces_.push_back(piece);
                continue;
            }
            splitter(piece, scratchPieces_);
        }
        pieces_.swap(scratchPieces_);
        dropEmptyPieces();
    }

    // The byte range [begin, end) of `piece`, as a piece of its own.
    static Piece subPiece(const Piece& piece, std::size_t begin, std::size_t end)
    {
        Piece part;
        part.buffer = piece.buffer;
        part.begin = piece.begin + static_cast<std::uint32_t>(begin);
        part.end = piece.begin + static_cast<std::uint32_t>(end);
        part.atOriginalStart = piece.atOriginalStart && begin == 0;
        return part;
    }

    // Appends the parts of `piece` that `spans` and `behavior` select (NormalizedString::split).
    void splitBySpans(const Piece& piece, const std::vector<MatchSpan>& spans, SplitBehavior behavior,
                      std::vector<Piece>& out) const;

    // Scratch vectors reused across the steps of one encode() call.
    std::vector<Span> regexMatches;
    std::vector<MatchSpan> spans;

private:
    void dropEmptyPieces();

    std::vector<std::string> buffers_;
    std::vector<Piece> pieces_;
    std::vector<Piece> scratchPieces_;
    mutable std::vector<MatchSpan> mergedSpans_;
};

// Pattern::find_matches for a regex: gaps and matches covering the whole text.
void spansFromRegex(const Regex& regex, std::string_view text, std::vector<Span>& matches,
                    std::vector<MatchSpan>& spans);
// Pattern::find_matches for a per-character predicate: every matching character is its own span.
template <typename Predicate>
void spansFromPredicate(std::string_view text, Predicate&& predicate, std::vector<MatchSpan>& spans);

} // namespace sp::tok

#include "tokenizer/unicode_text.h"

namespace sp::tok {

template <typename Predicate>
void spansFromPredicate(std::string_view text, Predicate&& predicate, std::vector<MatchSpan>& spans)
{
    spans.clear();
    if (text.empty()) {
        spans.push_back({0, 0, false});
        return;
    }
    std::size_t lastOffset = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const std::size_t start = pos;
        const char32_t c = decodeUtf8(text, pos);
        if (predicate(c)) {
            if (lastOffset < start)
                spans.push_back({lastOffset, start, false});
            spans.push_back({start, pos, true});
            lastOffset = pos;
        }
    }
    if (text.size() > lastOffset)
        spans.push_back({lastOffset, text.size(), false});
}

} // namespace sp::tok
