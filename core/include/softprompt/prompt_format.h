#pragma once
// How the context c and a query z sit in the model's prompt:
//
//     [pre][context → σ][mid][query][post]
//
// Plain: pre is the tokenizer's leading special tokens (BOS), mid and post are empty.
// Chat: the model's own chat template, rendered once with placeholder system and user messages and
// split around them; σ replaces the system message's content only, never the markers. Torch-free:
// the GUI shows the strip and the CLI prints it. As JSON: softprompt/prompt_pieces_json.h.
#include "softprompt/chat_model_files.h"

#include <string>
#include <vector>

namespace sp {

enum class PromptFormat { Auto, Plain, Chat };
std::string promptFormatKey(PromptFormat format);         // "auto", "plain", "chat"
PromptFormat promptFormatFromKey(const std::string& key); // throws sp::Error listing the keys
// Auto is Chat when the model has a chat template, else Plain. Chat without a template throws.
PromptFormat resolvePromptFormat(PromptFormat requested, const ChatModelFiles& files);

struct PromptPieces {
    PromptFormat format = PromptFormat::Plain; // resolved: Plain or Chat
    std::string templateName;                  // chat: which of the model's templates
    std::string pre, mid, post;                // rendered text around the context and the query
    // What comes before the query when there is no context: the template rendered without a system
    // message, whatever that renders to (Qwen2.5 inserts its own default system prompt).
    std::string noContextPre;
    // The template refuses a system role, so the context opens the first user turn (pre and mid are
    // then parts of that turn).
    bool contextInUserTurn = false;
    std::string note; // a sentence for the UI about either of the two above ("" when nothing to say)
};

// The pieces of the model's chat template (`templateName` "" = its default). Throws sp::Error (a
// ChatTemplateError for a template that fails) saying what to do.
PromptPieces chatPromptPieces(const ChatModelFiles& files, const std::string& templateName = "");

struct ChatTurn {
    std::string role;
    std::string content;
};
// Renders a conversation with the model's template (`softprompt chat render`), with the folder's
// special tokens, as transformers' apply_chat_template(tokenize=False) does.
std::string renderChatConversation(const ChatModelFiles& files, const std::vector<ChatTurn>& messages,
                                   bool addGenerationPrompt, const std::string& templateName = "");

} // namespace sp
