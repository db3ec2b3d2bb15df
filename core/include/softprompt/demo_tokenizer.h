#pragma once
// The demo model's tokenizer: a GPT-2-style byte-level BPE trained on the demo corpus. Byte-level,
// so it encodes any UTF-8 (and any byte string) without an unknown token.
#include <cstdint>
#include <string>

namespace sp::demo {

struct DemoTokenizerOptions {
    std::uint64_t seed = 1;
    int vocabSize = 2048;     // 256 bytes + merges + <|endoftext|>
    int sampleContexts = 600; // generated contexts (with their queries and answers) to learn merges from
};

// A tokenizer.json (ByteLevel pre-tokenizer and decoder, BPE with merges, "<|endoftext|>" as the
// last id). Every value, greeting and closing word of the corpus is
// added to the training text often enough to become a single token, so answers stay short.
std::string trainDemoTokenizerJson(const DemoTokenizerOptions& options);

inline constexpr const char* kDemoEndOfText = "<|endoftext|>";

} // namespace sp::demo
