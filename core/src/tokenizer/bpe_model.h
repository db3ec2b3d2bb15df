#pragma once
// The BPE model of tokenizer.json ("model": {"type": "BPE", ...}) with the exact merge order of
// tokenizers/src/models/bpe (lowest rank first, leftmost among equals), byte_fallback, fuse_unk,
// ignore_merges, continuing_subword_prefix and end_of_word_suffix, plus a word cache.
#include "tokenizer/json_access.h"
#include "tokenizer/pieces.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace sp::tok {

// Open-addressing map from a token pair to its merge (rank and the merged token's id).
class MergeMap {
public:
    struct Merge {
        std::uint32_t rank = 0;
        std::int32_t newId = -1;
    };
    void reserve(std::size_t count);
    // A later entry for the same pair replaces the earlier one, as in the Rust crate.
    void insert(std::int32_t left, std::int32_t right, Merge merge);
    const Merge* find(std::int32_t left, std::int32_t right) const;
    std::size_t size() const { return count_; }

private:
    static std::uint64_t key(std::int32_t left, std::int32_t right)
    {
        return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(left)) << 32) |
               static_cast<std::uint32_t>(right);
    }
    std::size_t slotFor(std::uint64_t key) const;

    static constexpr std::uint64_t kEmpty = ~std::uint64_t{0};
    // Key and value side by side: one memory access per lookup.
    struct Slot {
        std::uint64_t key = kEmpty;
        Merge merge;
    };
    std::vector<Slot> slots_;
    std::size_t mask_ = 0;
    std::size_t count_ = 0;
};

// Open-addressing map from a token string to its vocabulary entry (faster to build and to query
// than std::unordered_map for vocabularies of 100k+ strings).
class TokenIndex {
public:
    // `tokens` must outlive the index and stay unchanged.
    void build(const std::vector<std::string>& tokens);
    // Index into `tokens`, or -1.
    std::int32_t find(std::string_view token) const;

private:
    struct Slot {
        std::uint32_t tag = 0;
        std::int32_t entry = -1;
    };
    const std::vector<std::string>* tokens_ = nullptr;
    std::vector<Slot> slots_;
};

// Cache from a pre-token to its ids: two-way set-associative, one cache line per word, so that a
// hit costs one memory access; a new word replaces the older of its set. Callers hold mutex()
// shared for find() and exclusively for insert(), so that a whole text takes the lock twice
// rather than twice per word.
class WordCache {
public:
    static constexpr std::size_t kMaxKeyBytes = 22;
    static constexpr std::size_t kMaxIds = 8;

    explicit WordCache(std::size_t entries);
    std::shared_mutex& mutex() const { return mutex_; }
    // Appends the cached ids of `word` to `out`; false when the word is not cached.
    bool find(std::string_view word, std::vector<std::int32_t>& out) const;
    // Words longer than kMaxKeyBytes or with more than kMaxIds ids are not cached.
    void insert(std::string_view word, const std::int32_t* ids, std::size_t count);

private:
    struct alignas(64) Entry {
        std::uint64_t hash = 0; // 0: empty
        std::uint8_t keyLength = 0;
        std::uint8_t idCount = 0;
        char key[kMaxKeyBytes] = {};
        std::int32_t ids[kMaxIds] = {};
    };
    const Entry* findEntry(std::string_view word, std::uint64_t hash) const;

    mutable std::shared_mutex mutex_;
    std::vector<Entry> entries_;
};

class BpeModel {
public:
    // `config` is the "model" object. Throws sp::Error naming the path for anything malformed.
    BpeModel(const Json& config, const JsonPath& path);

    // Appends the ids of every piece to `out`: a piece's added token, or the BPE of its text.
    void tokenizePieces(const PieceList& pieces, std::vector<std::int32_t>& out) const;

    std::optional<std::int32_t> tokenToId(std::string_view token) const;
    // nullptr when no vocabulary entry has this id.
    const std::string* idToToken(std::int32_t id) const;
    // Number of vocabulary entries (the Rust crate's get_vocab_size).
    std::size_t entryCount() const { return tokens_.size(); }
    std::int32_t maxId() const { return static_cast<std::int32_t>(idToIndex_.size()) - 1; }
    bool byteFallback() const { return byteFallback_; }

private:
    std::int32_t lookup(std::string_view token) const;
    // lookup() of one character without prefix or suffix, through a table for the first code points.
    std::int32_t lookupCharacter(std::string_view character) const;
    void mergeWord(std::string_view word, std::vector<std::int32_t>& out) const;

    std::vector<std::string> tokens_;
    std::vector<std::int32_t> tokenIds_; // the id of each entry of tokens_
    TokenIndex tokenIndex_;
    std::vector<std::int32_t> idToIndex_; // id -> index into tokens_, -1 when unused
    MergeMap merges_;
    std::string unkToken_;
    bool hasUnkToken_ = false;
    std::string continuingSubwordPrefix_;
    std::string endOfWordSuffix_;
    bool fuseUnk_ = false;
    bool byteFallback_ = false;
    bool ignoreMerges_ = false;
    std::int32_t byteFallbackIds_[256];
    std::vector<std::int32_t> smallCharacterIds_; // code point < kSmallCharacters -> id or -1
    std::unique_ptr<WordCache> cache_;
};

} // namespace sp::tok
