#include "tokenizer/pieces.h"

#include <algorithm>

namespace sp::tok {

PieceList::PieceList(std::string text)
{
    const auto length = static_cast<std::uint32_t>(text.size());
    buffers_.push_back(std::move(text));
    Piece whole;
    whole.buffer = 0;
    whole.begin = 0;
    whole.end = length;
    whole.atOriginalStart = true;
    pieces_.push_back(whole);
}

std::uint32_t PieceList::addBuffer(std::string text)
{
    buffers_.push_back(std::move(text));
    return static_cast<std::uint32_t>(buffers_.size() - 1);
}

void PieceList::dropEmptyPieces()
{
    pieces_.erase(
        std::remove_if(pieces_.begin(), pieces_.end(),
                       [](const Piece& piece) { return piece.tokenId < 0 && piece.begin == piece.end; }),
        pieces_.end());
}

void PieceList::splitBySpans(const Piece& piece, const std::vector<MatchSpan>& spans, SplitBehavior behavior,
                             std::vector<Piece>& out) const
{
    // In mergedSpans_, isMatch means "remove this part".
    std::vector<MatchSpan>& merged = mergedSpans_;
    merged.clear();
    bool previousMatch = false;
    switch (behavior) {
    case SplitBehavior::Isolated:
        for (const MatchSpan& span : spans)
            merged.push_back({span.begin, span.end, false});
        break;
    case SplitBehavior::Removed:
        merged = spans;
        break;
    case SplitBehavior::Contiguous:
        for (const MatchSpan& span : spans) {
            if (span.isMatch == previousMatch && !merged.empty())
                merged.back().end = span.end;
            else
                merged.push_back({span.begin, span.end, false});
            previousMatch = span.isMatch;
        }
        break;
    case SplitBehavior::MergedWithPrevious:
        for (const MatchSpan& span : spans) {
            if (span.isMatch && !previousMatch && !merged.empty())
                merged.back().end = span.end;
            else
                merged.push_back({span.begin, span.end, false});
            previousMatch = span.isMatch;
        }
        break;
    case SplitBehavior::MergedWithNext:
        for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
            if (it->isMatch && !previousMatch && !merged.empty())
                merged.back().begin = it->begin;
            else
                merged.push_back({it->begin, it->end, false});
            previousMatch = it->isMatch;
        }
        std::reverse(merged.begin(), merged.end());
        break;
    }
    for (const MatchSpan& span : merged) {
        if (!span.isMatch)
            out.push_back(subPiece(piece, span.begin, span.end));
    }
}

void spansFromRegex(const Regex& regex, std::string_view text, std::vector<Span>& matches,
                    std::vector<MatchSpan>& spans)
{
    spans.clear();
    if (text.empty()) {
        spans.push_back({0, 0, false});
        return;
    }
    matches.clear();
    regex.findAll(text, matches);
    std::size_t previous = 0;
    for (const Span& match : matches) {
        if (previous != match.begin)
            spans.push_back({previous, match.begin, false});
        spans.push_back({match.begin, match.end, true});
        previous = match.end;
    }
    if (previous != text.size())
        spans.push_back({previous, text.size(), false});
}

} // namespace sp::tok
