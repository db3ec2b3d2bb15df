#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sp {

// Incremental SHA-256, used for stable identities (model, context, teacher cache keys).
class Sha256 {
public:
    Sha256();
    void update(const void* data, std::size_t size);
    void update(std::string_view text) { update(text.data(), text.size()); }
    std::string hexDigest(); // finishes the hash; call once

private:
    void processBlock(const std::uint8_t* block);
    std::uint32_t state_[8];
    std::uint64_t totalBytes_ = 0;
    std::uint8_t buffer_[64];
    std::size_t bufferedBytes_ = 0;
};

std::string sha256Hex(std::string_view data);
// Hashes a whole file; throws sp::Error naming the file when it cannot be read.
std::string sha256File(const std::string& path);

} // namespace sp
