#pragma once
// tokenizer.json "post_processor" section: TemplateProcessing, RobertaProcessing, BertProcessing,
// ByteLevel (ids unchanged) and Sequence. Only single sequences are encoded here.
#include "tokenizer/json_access.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sp::tok {

class PostProcessor {
public:
    virtual ~PostProcessor() = default;
    // Adds the template's special tokens around `ids` when `addSpecialTokens` is true.
    virtual void process(std::vector<std::int32_t>& ids, bool addSpecialTokens) const = 0;
    virtual std::string describe() const = 0;
};

std::unique_ptr<PostProcessor> makePostProcessor(const Json& config, const JsonPath& path);

} // namespace sp::tok
