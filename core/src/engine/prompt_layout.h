#pragma once
// The prompt layout [pre][context → σ][mid][query][post] as token ids, and the one place where the
// teacher's and the student's sequences are assembled from it:
//
//     teacher:  pre ⊕ c ⊕ mid ⊕ z ⊕ post ⊕ ŷ        (the context's KV cache is pre ⊕ c ⊕ mid)
//     student:  pre ⊕ σ ⊕ mid ⊕ z ⊕ post ⊕ ŷ        (the shared prefix is pre ⊕ σ ⊕ mid)
//
// In the chat format the teacher's ids are exactly transformers' route: the whole conversation is
// rendered with the template and tokenised as one string without special tokens. The pieces are
// then cut out of those ids, so a merge across a piece boundary or a SentencePiece "▁" that a piece
// would get on its own never changes what the teacher sees; a token that straddles the context's
// edge goes to the context (σ replaces it too), one that straddles the query's edge goes to the
// query row. Torch-free.
#include "softprompt/prompt_format.h"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace sp {
class ChatTemplate;
}

namespace sp::engine {

using EncodeText = std::function<std::vector<std::int32_t>(const std::string&)>;

// A model's chat template, ready to render a conversation around a context and a query.
class ChatPrompt {
public:
    ChatPrompt(const ChatModelFiles& files, const std::string& templateName = "");
    const PromptPieces& pieces() const { return pieces_; }
    // The whole conversation (system = context, user = query) with the generation prompt.
    std::string render(const std::string& context, const std::string& query) const;
    // The conversation without a system message.
    std::string renderWithoutContext(const std::string& query) const;
    // A longer conversation (the playground): `turns` alternate user and assistant and end with a user
    // turn; the context (when given) goes where render() puts it. With the generation prompt.
    std::string renderConversation(const std::string* context,
                                   const std::vector<std::pair<std::string, std::string>>& turns) const;

private:
    std::string renderTurns(const std::vector<std::pair<std::string, std::string>>& turns) const;
    std::shared_ptr<const ChatTemplate> template_;
    std::map<std::string, std::string> specialTokens_;
    PromptPieces pieces_;
};

struct TokenizedPrompt {
    std::vector<std::int32_t> pre;            // before the context
    std::vector<std::int32_t> context;        // c: what σ replaces; truncation and pruning act on it
    std::vector<std::int32_t> mid;            // between the context and every query
    std::vector<std::vector<std::int32_t>> rows; // per query: z ⊕ post
    std::vector<std::int32_t> noContext;      // before the rows when there is no context
    // pre ⊕ context ⊕ mid ⊕ rows[query]: the teacher's prompt.
    std::vector<std::int32_t> teacherIds(std::size_t query) const;
};

// Plain: pre = the tokenizer's leading special ids, c and each z tokenised on their own.
TokenizedPrompt tokenizePlain(const EncodeText& encode, const std::vector<std::int32_t>& prefixIds,
                              const std::string& context, const std::vector<std::string>& queries);
// Chat: cut out of the ids of each whole rendered conversation. Throws sp::Error when the template
// does not render the context and the query where its pieces say.
TokenizedPrompt tokenizeChat(const ChatPrompt& prompt, const EncodeText& encode, const std::string& context,
                             const std::vector<std::string>& queries);

} // namespace sp::engine
