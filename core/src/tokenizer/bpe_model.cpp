#include "tokenizer/bpe_model.h"

#include "tokenizer/unicode_text.h"

#include <algorithm>
#include <cstring>
#include <mutex>

namespace sp::tok {

namespace {

std::uint64_t hashBytes(std::string_view bytes)
{
    std::uint64_t hash = 0x9E3779B97F4A7C15ull ^ (bytes.size() * 0xC2B2AE3D27D4EB4Full);
    std::size_t i = 0;
    for (; i + 8 <= bytes.size(); i += 8) {
        std::uint64_t chunk = 0;
        std::memcpy(&chunk, bytes.data() + i, 8);
        hash = (hash ^ (chunk * 0x87C37B91114253D5ull)) * 0x4CF5AD432745937Full;
        hash ^= hash >> 29;
    }
    std::uint64_t tail = 0;
    if (i < bytes.size())
        std::memcpy(&tail, bytes.data() + i, bytes.size() - i);
    hash = (hash ^ (tail * 0x87C37B91114253D5ull)) * 0x4CF5AD432745937Full;
    hash ^= hash >> 32;
    return hash == 0 ? 1 : hash;
}

std::size_t nextPowerOfTwo(std::size_t value)
{
    std::size_t power = 1;
    while (power < value)
        power <<= 1;
    return power;
}

// A symbol of the word being merged (Word in the Rust crate): a doubly linked list in an array.
struct Symbol {
    std::int32_t id;
    std::int32_t previous;
    std::int32_t next;
    std::uint32_t length; // bytes; 0 marks a symbol merged into its left neighbour
};

struct PendingMerge {
    std::uint32_t rank;
    std::uint32_t position;
    std::int32_t newId;
};

// std::push_heap keeps the largest element first; "larger" here is the merge to apply first.
bool appliesLater(const PendingMerge& a, const PendingMerge& b)
{
    if (a.rank != b.rank)
        return a.rank > b.rank;
    return a.position > b.position;
}

} // namespace

// ---- MergeMap --------------------------------------------------------------------------------

void MergeMap::reserve(std::size_t count)
{
    const std::size_t capacity = nextPowerOfTwo(std::max<std::size_t>(16, count * 2));
    slots_.assign(capacity, Slot{});
    mask_ = capacity - 1;
    count_ = 0;
}

std::size_t MergeMap::slotFor(std::uint64_t key) const
{
    std::size_t slot = static_cast<std::size_t>((key * 0x9E3779B97F4A7C15ull) >> 24) & mask_;
    while (slots_[slot].key != kEmpty && slots_[slot].key != key)
        slot = (slot + 1) & mask_;
    return slot;
}

void MergeMap::insert(std::int32_t left, std::int32_t right, Merge merge)
{
    if ((count_ + 1) * 2 > slots_.size()) {
        std::vector<Slot> old;
        old.swap(slots_);
        reserve(std::max<std::size_t>(count_ + 1, old.size()));
        for (const Slot& entry : old) {
            if (entry.key != kEmpty) {
                slots_[slotFor(entry.key)] = entry;
                ++count_;
            }
        }
    }
    const std::uint64_t pairKey = key(left, right);
    Slot& slot = slots_[slotFor(pairKey)];
    if (slot.key == kEmpty)
        ++count_;
    slot.key = pairKey;
    slot.merge = merge;
}

const MergeMap::Merge* MergeMap::find(std::int32_t left, std::int32_t right) const
{
    if (slots_.empty())
        return nullptr;
    const Slot& slot = slots_[slotFor(key(left, right))];
    return slot.key == kEmpty ? nullptr : &slot.merge;
}

// ---- TokenIndex ------------------------------------------------------------------------------

void TokenIndex::build(const std::vector<std::string>& tokens)
{
    tokens_ = &tokens;
    slots_.assign(nextPowerOfTwo(std::max<std::size_t>(16, tokens.size() * 2)), Slot{});
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
        const std::uint64_t hash = hashBytes(tokens[i]);
        std::size_t slot = static_cast<std::size_t>(hash) & mask;
        while (slots_[slot].entry >= 0)
            slot = (slot + 1) & mask;
        slots_[slot] = Slot{static_cast<std::uint32_t>(hash >> 32), static_cast<std::int32_t>(i)};
    }
}

std::int32_t TokenIndex::find(std::string_view token) const
{
    if (slots_.empty())
        return -1;
    const std::uint64_t hash = hashBytes(token);
    const auto tag = static_cast<std::uint32_t>(hash >> 32);
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t slot = static_cast<std::size_t>(hash) & mask;; slot = (slot + 1) & mask) {
        const Slot& entry = slots_[slot];
        if (entry.entry < 0)
            return -1;
        if (entry.tag == tag && (*tokens_)[static_cast<std::size_t>(entry.entry)] == token)
            return entry.entry;
    }
}

// ---- WordCache -------------------------------------------------------------------------------

WordCache::WordCache(std::size_t entries) : entries_(nextPowerOfTwo(std::max<std::size_t>(2, entries))) {}

const WordCache::Entry* WordCache::findEntry(std::string_view word, std::uint64_t hash) const
{
    const std::size_t set = static_cast<std::size_t>(hash) & (entries_.size() - 2);
    for (std::size_t way = 0; way < 2; ++way) {
        const Entry& entry = entries_[set + way];
        if (entry.hash == hash && entry.keyLength == word.size() &&
            std::memcmp(entry.key, word.data(), word.size()) == 0)
            return &entry;
    }
    return nullptr;
}

bool WordCache::find(std::string_view word, std::vector<std::int32_t>& out) const
{
    if (word.size() > kMaxKeyBytes)
        return false;
    const Entry* entry = findEntry(word, hashBytes(word));
    if (entry == nullptr)
        return false;
    out.insert(out.end(), entry->ids, entry->ids + entry->idCount);
    return true;
}

void WordCache::insert(std::string_view word, const std::int32_t* ids, std::size_t count)
{
    if (word.size() > kMaxKeyBytes || count > kMaxIds)
        return;
    const std::uint64_t hash = hashBytes(word);
    if (findEntry(word, hash) != nullptr)
        return; // cached already (by another thread, or earlier in the same text)
    const std::size_t set = static_cast<std::size_t>(hash) & (entries_.size() - 2);
    entries_[set + 1] = entries_[set];
    Entry& entry = entries_[set];
    entry.hash = hash;
    entry.keyLength = static_cast<std::uint8_t>(word.size());
    entry.idCount = static_cast<std::uint8_t>(count);
    std::memcpy(entry.key, word.data(), word.size());
    std::copy(ids, ids + count, entry.ids);
}

// ---- BpeModel --------------------------------------------------------------------------------

namespace {

constexpr std::size_t kCacheEntries = 65536; // 4 MiB
constexpr std::size_t kSmallCharacters = 0x800;

} // namespace

BpeModel::BpeModel(const Json& config, const JsonPath& path)
{
    if (const Json* dropout = optionalMember(config, "dropout")) {
        if (!dropout->is_number() || dropout->get<double>() < 0.0 || dropout->get<double>() > 1.0)
            (path / "dropout").fail("must be a number between 0 and 1");
    }
    if (const Json* unk = optionalMember(config, "unk_token")) {
        unkToken_ = requireString(*unk, path / "unk_token");
        hasUnkToken_ = true;
    }
    if (const Json* prefix = optionalMember(config, "continuing_subword_prefix"))
        continuingSubwordPrefix_ = requireString(*prefix, path / "continuing_subword_prefix");
    if (const Json* suffix = optionalMember(config, "end_of_word_suffix"))
        endOfWordSuffix_ = requireString(*suffix, path / "end_of_word_suffix");
    fuseUnk_ = boolMember(config, "fuse_unk", false, path);
    byteFallback_ = boolMember(config, "byte_fallback", false, path);
    ignoreMerges_ = boolMember(config, "ignore_merges", false, path);

    const Json& vocab = requireMember(config, "vocab", path);
    const JsonPath vocabPath = path / "vocab";
    if (!vocab.is_object())
        vocabPath.fail(std::string("must be an object of token: id (got ") + jsonTypeName(vocab) + ")");
    tokens_.reserve(vocab.size());
    std::vector<std::int32_t> ids;
    ids.reserve(vocab.size());
    // nlohmann::json keeps object keys unique, so every token string appears once.
    std::int32_t maxId = -1;
    for (auto it = vocab.begin(); it != vocab.end(); ++it) {
        const std::int32_t id = requireTokenId(it.value(), vocabPath / it.key());
        if (validUtf8Prefix(it.key()) != it.key().size())
            vocabPath.fail("has a token that is not valid UTF-8");
        tokens_.push_back(it.key());
        ids.push_back(id);
        maxId = std::max(maxId, id);
    }
    tokenIds_ = ids;
    tokenIndex_.build(tokens_);
    idToIndex_.assign(static_cast<std::size_t>(maxId + 1), -1);
    for (std::size_t i = 0; i < tokens_.size(); ++i)
        idToIndex_[static_cast<std::size_t>(ids[i])] = static_cast<std::int32_t>(i);

    const Json& merges = requireMember(config, "merges", path);
    const JsonPath mergesPath = path / "merges";
    if (!merges.is_array())
        mergesPath.fail(std::string("must be an array (got ") + jsonTypeName(merges) + ")");
    merges_.reserve(merges.size());
    const auto tokenOrFail = [&](const std::string& token, const JsonPath& where) {
        const std::int32_t id = lookup(token);
        if (id < 0)
            where.fail("names the token \"" + token + "\", which is not in model.vocab");
        return id;
    };
    std::uint32_t rank = 0;
    for (std::size_t i = 0; i < merges.size(); ++i) {
        const Json& entry = merges[i];
        std::string left;
        std::string right;
        if (entry.is_array()) {
            if (entry.size() != 2 || !entry[0].is_string() || !entry[1].is_string())
                mergesPath[i].fail("must be a pair of two token strings");
            left = entry[0].get<std::string>();
            right = entry[1].get<std::string>();
        } else if (entry.is_string()) {
            const std::string& line = entry.get_ref<const std::string&>();
            if (line.rfind("#version", 0) == 0)
                continue;
            const std::size_t space = line.find(' ');
            if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos)
                mergesPath[i].fail("is \"" + line + "\"; a merge must be two tokens separated by one space");
            left = line.substr(0, space);
            right = line.substr(space + 1);
        } else {
            mergesPath[i].fail(std::string("must be a string \"a b\" or a pair [\"a\", \"b\"] (got ") +
                               jsonTypeName(entry) + ")");
        }
        const std::int32_t leftId = tokenOrFail(left, mergesPath[i]);
        const std::int32_t rightId = tokenOrFail(right, mergesPath[i]);
        const std::size_t prefixLength = continuingSubwordPrefix_.size();
        if (right.size() < prefixLength || validUtf8Prefix(right.substr(0, prefixLength)) != prefixLength)
            mergesPath[i].fail("has a right token shorter than continuing_subword_prefix");
        const std::string merged = left + right.substr(prefixLength);
        const std::int32_t newId = tokenOrFail(merged, mergesPath[i]);
        merges_.insert(leftId, rightId, MergeMap::Merge{rank++, newId});
    }

    for (int b = 0; b < 256; ++b) {
        static const char* const kHex = "0123456789ABCDEF";
        const std::string name = std::string("<0x") + kHex[b >> 4] + kHex[b & 15] + ">";
        byteFallbackIds_[b] = lookup(name);
    }
    smallCharacterIds_.assign(kSmallCharacters, -1);
    for (char32_t c = 0; c < kSmallCharacters; ++c) {
        std::string utf8;
        appendUtf8(utf8, c);
        smallCharacterIds_[c] = lookup(utf8);
    }
    cache_ = std::make_unique<WordCache>(kCacheEntries);
}

std::int32_t BpeModel::lookupCharacter(std::string_view character) const
{
    const auto lead = static_cast<unsigned char>(character[0]);
    if (character.size() == 1)
        return smallCharacterIds_[lead];
    if (character.size() == 2 && lead >= 0xC0 && lead < 0xE0)
        return smallCharacterIds_[((lead & 0x1Fu) << 6) | (static_cast<unsigned char>(character[1]) & 0x3Fu)];
    return lookup(character);
}

std::int32_t BpeModel::lookup(std::string_view token) const
{
    const std::int32_t entry = tokenIndex_.find(token);
    return entry < 0 ? -1 : tokenIds_[static_cast<std::size_t>(entry)];
}

std::optional<std::int32_t> BpeModel::tokenToId(std::string_view token) const
{
    const std::int32_t id = lookup(token);
    if (id < 0)
        return std::nullopt;
    return id;
}

const std::string* BpeModel::idToToken(std::int32_t id) const
{
    if (id < 0 || static_cast<std::size_t>(id) >= idToIndex_.size() ||
        idToIndex_[static_cast<std::size_t>(id)] < 0)
        return nullptr;
    return &tokens_[static_cast<std::size_t>(idToIndex_[static_cast<std::size_t>(id)])];
}

void BpeModel::tokenizePieces(const PieceList& pieces, std::vector<std::int32_t>& out) const
{
    // Words the cache does not know: which piece, and where its ids belong in `out`.
    struct Miss {
        std::size_t piece;
        std::size_t position;
    };
    thread_local std::vector<Miss> misses;
    thread_local std::vector<std::int32_t> missIds;
    thread_local std::vector<std::size_t> missOffsets;
    misses.clear();
    const std::vector<Piece>& list = pieces.pieces();
    {
        std::shared_lock<std::shared_mutex> lock(cache_->mutex());
        for (std::size_t i = 0; i < list.size(); ++i) {
            if (list[i].tokenId >= 0) {
                out.push_back(list[i].tokenId);
                continue;
            }
            const std::string_view word = pieces.text(list[i]);
            if (word.empty())
                continue;
            if (ignoreMerges_) {
                const std::int32_t id = lookup(word);
                if (id >= 0) {
                    out.push_back(id);
                    continue;
                }
            }
            if (!cache_->find(word, out))
                misses.push_back(Miss{i, out.size()});
        }
    }
    if (misses.empty())
        return;
    missIds.clear();
    missOffsets.clear();
    for (const Miss& miss : misses) {
        missOffsets.push_back(missIds.size());
        mergeWord(pieces.text(list[miss.piece]), missIds);
    }
    missOffsets.push_back(missIds.size());

    std::vector<std::int32_t> merged;
    merged.reserve(out.size() + missIds.size());
    std::size_t copied = 0;
    for (std::size_t k = 0; k < misses.size(); ++k) {
        merged.insert(merged.end(), out.begin() + static_cast<std::ptrdiff_t>(copied),
                      out.begin() + static_cast<std::ptrdiff_t>(misses[k].position));
        copied = misses[k].position;
        merged.insert(merged.end(), missIds.begin() + static_cast<std::ptrdiff_t>(missOffsets[k]),
                      missIds.begin() + static_cast<std::ptrdiff_t>(missOffsets[k + 1]));
    }
    merged.insert(merged.end(), out.begin() + static_cast<std::ptrdiff_t>(copied), out.end());
    out.swap(merged);

    std::unique_lock<std::shared_mutex> lock(cache_->mutex());
    for (std::size_t k = 0; k < misses.size(); ++k) {
        cache_->insert(pieces.text(list[misses[k].piece]), missIds.data() + missOffsets[k],
                       missOffsets[k + 1] - missOffsets[k]);
    }
}

void BpeModel::mergeWord(std::string_view word, std::vector<std::int32_t>& out) const
{
    thread_local std::vector<Symbol> symbols;
    thread_local std::vector<PendingMerge> queue;
    thread_local std::string key;
    symbols.clear();
    queue.clear();

    const auto addSymbol = [&](std::int32_t id, std::size_t length) {
        const auto index = static_cast<std::int32_t>(symbols.size());
        if (!symbols.empty())
            symbols.back().next = index;
        symbols.push_back(Symbol{id, index - 1, -1, static_cast<std::uint32_t>(length)});
    };
    const auto unkId = [&]() {
        const std::int32_t id = lookup(unkToken_);
        if (id < 0)
            throw Error("tokenizer.json: model.unk_token \"" + unkToken_ + "\" is not in model.vocab");
        return id;
    };

    // Unknown characters wait here so that fuse_unk can merge consecutive ones.
    bool unkPending = false;
    std::int32_t pendingUnkId = -1;
    std::size_t pendingUnkLength = 0;
    std::size_t pos = 0;
    while (pos < word.size()) {
        const std::size_t length =
            std::min(utf8SequenceLength(static_cast<unsigned char>(word[pos])), word.size() - pos);
        const bool isFirst = pos == 0;
        const bool isLast = pos + length == word.size();
        std::string_view symbolText = word.substr(pos, length);
        if ((!isFirst && !continuingSubwordPrefix_.empty()) || (isLast && !endOfWordSuffix_.empty())) {
            key.assign(isFirst ? "" : continuingSubwordPrefix_);
            key.append(symbolText);
            if (isLast)
                key.append(endOfWordSuffix_);
            symbolText = key;
        }
        const std::int32_t id =
            symbolText.size() == length ? lookupCharacter(symbolText) : lookup(symbolText);
        if (id >= 0) {
            if (unkPending) {
                addSymbol(pendingUnkId, pendingUnkLength);
                unkPending = false;
            }
            addSymbol(id, length);
        } else {
            bool fellBack = false;
            if (byteFallback_) {
                fellBack = std::all_of(symbolText.begin(), symbolText.end(), [&](char b) {
                    return byteFallbackIds_[static_cast<unsigned char>(b)] >= 0;
                });
                // As in the Rust crate, a pending unknown is not flushed before the byte tokens.
                if (fellBack) {
                    for (const char b : symbolText)
                        addSymbol(byteFallbackIds_[static_cast<unsigned char>(b)], 1);
                }
            }
            if (!fellBack && hasUnkToken_) {
                if (unkPending && fuseUnk_) {
                    pendingUnkLength += length;
                } else {
                    if (unkPending)
                        addSymbol(pendingUnkId, pendingUnkLength);
                    pendingUnkId = unkId();
                    pendingUnkLength = length;
                    unkPending = true;
                }
            }
        }
        pos += length;
    }
    if (unkPending)
        addSymbol(pendingUnkId, pendingUnkLength);

    for (std::size_t i = 0; i + 1 < symbols.size(); ++i) {
        if (const MergeMap::Merge* merge = merges_.find(symbols[i].id, symbols[i + 1].id))
            queue.push_back(PendingMerge{merge->rank, static_cast<std::uint32_t>(i), merge->newId});
    }
    std::make_heap(queue.begin(), queue.end(), appliesLater);
    while (!queue.empty()) {
        std::pop_heap(queue.begin(), queue.end(), appliesLater);
        const PendingMerge top = queue.back();
        queue.pop_back();
        Symbol& current = symbols[top.position];
        if (current.length == 0 || current.next < 0)
            continue;
        const Symbol right = symbols[static_cast<std::size_t>(current.next)];
        const MergeMap::Merge* stillValid = merges_.find(current.id, right.id);
        if (stillValid == nullptr || stillValid->newId != top.newId)
            continue; // an outdated entry: one of the two symbols has changed since
        symbols[static_cast<std::size_t>(current.next)].length = 0;
        current.id = top.newId;
        current.length += right.length;
        current.next = right.next;
        if (right.next >= 0)
            symbols[static_cast<std::size_t>(right.next)].previous = static_cast<std::int32_t>(top.position);
        if (current.previous >= 0) {
            const Symbol& previous = symbols[static_cast<std::size_t>(current.previous)];
            if (const MergeMap::Merge* merge = merges_.find(previous.id, current.id)) {
                queue.push_back(
                    PendingMerge{merge->rank, static_cast<std::uint32_t>(current.previous), merge->newId});
                std::push_heap(queue.begin(), queue.end(), appliesLater);
            }
        }
        if (current.next >= 0) {
            const Symbol& next = symbols[static_cast<std::size_t>(current.next)];
            if (const MergeMap::Merge* merge = merges_.find(current.id, next.id)) {
                queue.push_back(PendingMerge{merge->rank, top.position, merge->newId});
                std::push_heap(queue.begin(), queue.end(), appliesLater);
            }
        }
    }
    for (const Symbol& symbol : symbols) {
        if (symbol.length != 0)
            out.push_back(symbol.id);
    }
}

} // namespace sp::tok
