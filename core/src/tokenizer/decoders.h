#pragma once
// tokenizer.json "decoder" section: ByteLevel, ByteFallback, Metaspace, Strip, Fuse, Replace,
// BPEDecoder, WordPiece and Sequence, with the semantics of tokenizers/src/decoders: each one maps
// the list of token strings to a new list (decode_chain) and decode() joins the final list.
#include "tokenizer/json_access.h"

#include <memory>
#include <string>
#include <vector>

namespace sp::tok {

class Decoder {
public:
    virtual ~Decoder() = default;
    virtual void decodeChain(std::vector<std::string>& tokens) const = 0;
    virtual std::string describe() const = 0;
};

std::unique_ptr<Decoder> makeDecoder(const Json& config, const JsonPath& path);

} // namespace sp::tok
