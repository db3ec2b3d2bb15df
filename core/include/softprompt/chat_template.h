#pragma once
// Chat templates: the Jinja dialect that Hugging Face transformers uses to turn a conversation into a
// prompt (tokenizer_config.json's "chat_template"), rendered with transformers' settings:
// trim_blocks, lstrip_blocks, loop controls, its tojson (json.dumps, ensure_ascii=False), the
// globals raise_exception and strftime_now, and the `generation` block. Qt-free and torch-free.
//
// Templates are files users download, so compiling and rendering are bounded: nesting depth,
// output size, loop iterations and range() sizes have limits, and going past one is an error.
#include "softprompt/error.h"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sp {

struct ChatMessage {
    std::string role;
    std::string content;
};

struct ChatRenderInput {
    std::vector<ChatMessage> messages;
    bool addGenerationPrompt = false;
    // Other keyword arguments of apply_chat_template as a JSON object: tools, documents,
    // enable_thinking, ... A "messages" entry (an array of message objects with any fields, such
    // as tool_calls or reasoning_content) replaces `messages`.
    std::string extraVariablesJson = "{}";
    // bos_token, eos_token, unk_token, pad_token, ... as strings.
    std::map<std::string, std::string> specialTokens;
    // strftime_now's clock in seconds since the epoch (UTC); unset = the real clock.
    std::optional<std::int64_t> nowUnixSeconds;
};

// A template that does not parse, or fails while rendering. line() and column() are 1-based
// positions in the template source (0 when unknown); construct() names what failed ("for",
// "filter 'join'", "raise_exception", ...). raisedByTemplate() is true when the template itself
// called raise_exception(message): message() is then the template's own words.
class ChatTemplateError : public Error {
public:
    ChatTemplateError(std::string templateName, int line, int column, std::string construct,
                      std::string message, bool raisedByTemplate);
    int line() const { return line_; }
    int column() const { return column_; }
    const std::string& construct() const { return construct_; }
    const std::string& message() const { return message_; }
    const std::string& templateName() const { return templateName_; }
    bool raisedByTemplate() const { return raisedByTemplate_; }

private:
    std::string templateName_;
    int line_;
    int column_;
    std::string construct_;
    std::string message_;
    bool raisedByTemplate_;
};

// Resource limits of one render. The defaults are far above what real templates need.
struct ChatTemplateLimits {
    std::size_t maxOutputBytes = 64u << 20;       // rendered text and any one string value
    std::uint64_t maxSteps = 50'000'000;          // loop iterations + evaluated nodes
    int maxCallDepth = 200;                       // nested macro calls
    std::int64_t maxRange = 100'000;              // range() length (Jinja's sandbox uses the same)
};

namespace chat_detail { struct CompiledTemplate; }

class ChatTemplate {
public:
    // Throws ChatTemplateError on a syntax error.
    static ChatTemplate compile(const std::string& source, const std::string& name = "chat_template");

    // Throws ChatTemplateError when rendering fails or the template raises.
    std::string render(const ChatRenderInput& input) const;

    const std::string& name() const;
    const std::string& source() const;

    void setLimits(const ChatTemplateLimits& limits) { limits_ = limits; }
    const ChatTemplateLimits& limits() const { return limits_; }

private:
    std::shared_ptr<const chat_detail::CompiledTemplate> compiled_;
    ChatTemplateLimits limits_;
};

} // namespace sp
