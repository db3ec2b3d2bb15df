#pragma once
// A GPT-2-style byte-level BPE trainer for the demo model's tokenizer. It writes a Hugging Face
// tokenizer.json (ByteLevel pre-tokenizer and decoder, BPE model with merges) that sp::Tokenizer
// and the Hugging Face `tokenizers` library both read.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sp::demo {

// GPT-2's pre-tokenisation: contractions, letter runs, digit runs and punctuation runs (each with
// an optional leading space), then whitespace. Invalid UTF-8 is split byte by byte where it occurs.
std::vector<std::string> gpt2Pretokenize(std::string_view text);

// GPT-2's printable stand-in for each byte ("Ġ" for a space), as used in vocab and merges.
const std::vector<std::string>& byteToUnicode();

struct BpeTrainingOptions {
    int vocabSize = 2048;                                       // bytes + merges + special tokens
    int minPairFrequency = 2;                                   // stop merging below this count
    std::vector<std::string> specialTokens = {"<|endoftext|>"}; // appended after the merges
};

struct TrainedBpe {
    std::vector<std::string> vocabulary; // id -> token (byte-level alphabet), special tokens last
    std::vector<std::pair<std::string, std::string>> merges; // in rank order
    std::vector<std::string> specialTokens;

    std::string toTokenizerJson() const; // a GPT-2-style tokenizer.json
};

// Learns merges from `texts` (each text pre-tokenised on its own). Deterministic: ties between
// equally frequent pairs go to the pair whose token strings sort first.
TrainedBpe trainByteLevelBpe(const std::vector<std::string>& texts, const BpeTrainingOptions& options);

struct DemoTokenizerOptions;
// The demo tokenizer's merges (see softprompt/demo_tokenizer.h).
TrainedBpe trainDemoBpe(const DemoTokenizerOptions& options);

} // namespace sp::demo
