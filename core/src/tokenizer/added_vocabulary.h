#pragma once
// tokenizer.json "added_tokens": ids assigned and text split out exactly as the Rust crate's
// AddedVocabulary (tokenizers 0.22): leftmost-longest matching, non-normalized tokens on the raw
// text first, normalized ones on the normalized pieces, honouring single_word, lstrip and rstrip.
#include "tokenizer/json_access.h"
#include "tokenizer/pieces.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace sp::tok {

class BpeModel;
class Normalizer;

struct AddedToken {
    std::string content;
    bool singleWord = false;
    bool lstrip = false;
    bool rstrip = false;
    bool normalized = true;
    bool special = false;

    bool operator==(const AddedToken& other) const
    {
        return content == other.content && singleWord == other.singleWord && lstrip == other.lstrip &&
               rstrip == other.rstrip && normalized == other.normalized && special == other.special;
    }
};

// Finds, left to right, the longest pattern that starts at the leftmost possible position.
class LeftmostLongestMatcher {
public:
    // Patterns keep their index; an empty pattern never matches.
    void addPattern(std::string_view pattern, std::int32_t value);
    bool empty() const { return patternCount_ == 0; }

    struct Match {
        std::size_t begin;
        std::size_t end;
        std::int32_t value;
    };
    void findAll(std::string_view text, std::vector<Match>& matches) const;

private:
    struct Node {
        std::vector<std::pair<unsigned char, std::int32_t>> children; // sorted by byte
        std::int32_t value = -1;
        bool terminal = false;
    };
    std::int32_t child(std::int32_t node, unsigned char byte) const;
    std::vector<Node> nodes_{Node{}};
    bool firstByte_[256] = {};
    std::size_t patternCount_ = 0;
};

class AddedVocabulary {
public:
    // `tokens` may be null (no added tokens). Ids follow the Rust crate's add_tokens: a token already
    // in the model vocabulary keeps that id, others are numbered after the vocabulary.
    AddedVocabulary(const Json* tokens, const JsonPath& path, const BpeModel& model,
                    const Normalizer* normalizer);

    // Step 1 of encoding: split out the tokens that are matched on the raw text.
    void splitRaw(PieceList& pieces) const;
    // Step 2: normalize the remaining pieces, then split out the normalized tokens.
    void normalizeAndSplit(PieceList& pieces, const Normalizer* normalizer) const;

    std::optional<std::int32_t> tokenToId(std::string_view content) const;
    // The added token registered for `id`, or nullptr.
    const AddedToken* tokenForId(std::int32_t id) const;
    bool isSpecialContent(std::string_view content) const;
    std::int32_t maxId() const { return maxId_; }
    std::size_t size() const { return byId_.size(); }

private:
    void splitWith(PieceList& pieces, const LeftmostLongestMatcher& matcher, const Piece& piece,
                   std::vector<Piece>& out) const;

    std::unordered_map<std::string, std::int32_t> idByContent_;
    std::unordered_map<std::int32_t, AddedToken> byId_;
    std::unordered_set<std::string> specialContents_;
    LeftmostLongestMatcher rawMatcher_;
    LeftmostLongestMatcher normalizedMatcher_;
    std::int32_t maxId_ = -1;
};

} // namespace sp::tok
