#pragma once
// The part of the safetensors reader that judges bytes: the 8-byte length, the JSON header and the
// layout of the data buffer. Kept apart from the memory mapping so the fuzzer can drive it directly.
#include "softprompt/safetensors.h"

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sp::formats {

// The reference reader refuses headers above this many bytes (safetensors/src/tensor.rs).
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;
// serde_json's default recursion limit, which bounds how deeply the reference accepts nesting.
constexpr int kMaxJsonDepth = 128;

struct TensorEntry {
    std::string name;
    TensorDType dtype = TensorDType::F32;
    std::vector<std::int64_t> shape;
    std::uint64_t begin = 0; // offsets relative to the data buffer
    std::uint64_t end = 0;
};

struct SafetensorsLayout {
    std::size_t dataStart = 0;                   // 8 + N: where the data buffer begins in the file
    std::map<std::string, std::string> metadata; // "__metadata__"
    std::vector<TensorEntry> tensors;            // in the order of their data in the file
};

// Parses and validates a whole safetensors file held in `bytes`. Throws sp::Error
// "<sourceName>: <what is wrong>" for every input the reference reader rejects, plus duplicate
// JSON keys, which the format forbids but serde_json's flattened map would silently collapse.
SafetensorsLayout parseSafetensorsLayout(std::string_view bytes, const std::string& sourceName);

// Appends `text` as a JSON string the way serde_json (the reference safetensors writer) escapes it:
// quotes, backslashes and control characters below 0x20 only (\n, \t, ... and \u00XX; 0x7F stays).
void appendJsonString(std::string& out, std::string_view text);
// `text` as appendJsonString writes it (so a name holding a newline keeps an error message on one
// line), shortened to about 200 bytes.
std::string quotedName(std::string_view text);
// A dumped JSON value as it appears in an error message: shortened to about 80 bytes.
std::string brief(const std::string& dumpedJson);

// Rank of a dtype in the reference's Dtype enum, which orders tensors when writing.
int referenceDtypeRank(TensorDType dtype);

} // namespace sp::formats
