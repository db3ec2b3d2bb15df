#pragma once
// tokenizer.json "pre_tokenizer" section: ByteLevel, Split, Digits, Metaspace, Sequence, Whitespace,
// WhitespaceSplit, Punctuation, BertPreTokenizer and CharDelimiterSplit, with the semantics of
// tokenizers/src/pre_tokenizers.
#include "tokenizer/json_access.h"
#include "tokenizer/pieces.h"

#include <memory>
#include <string>

namespace sp::tok {

class PreTokenizer {
public:
    virtual ~PreTokenizer() = default;
    virtual void preTokenize(PieceList& pieces) const = 0;
    // Short structural description, e.g. "Sequence[Split,ByteLevel]".
    virtual std::string describe() const = 0;
};

std::unique_ptr<PreTokenizer> makePreTokenizer(const Json& config, const JsonPath& path);

// The regex of the ByteLevel pre-tokenizer (GPT-2's), compiled once.
const Regex& gpt2SplitRegex();

} // namespace sp::tok
