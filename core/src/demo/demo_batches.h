#pragma once
// Turning demo-corpus examples into token tensors, shared by pretraining and evaluation.
#include "softprompt/demo_corpus.h"
#include "softprompt/tokenizer.h"
#include "torch_common.h"

#include <cstdint>
#include <vector>

namespace sp::demo {

struct TokenizedQuery {
    std::vector<std::int64_t> query;  // the query's ids
    std::vector<std::int64_t> answer; // the answer's ids followed by end-of-text
};

// Context, query and answer are tokenised separately and concatenated, as the engine joins a
// context and a query.
std::vector<std::int64_t> encodeIds(const Tokenizer& tokenizer, const std::string& text);
TokenizedQuery tokenizeQuery(const Tokenizer& tokenizer, const DemoQuery& query, std::int64_t endOfText);

// Queries that all continue the same context, padded into one batch.
struct AnswerBatch {
    at::Tensor ids;          // [Q, T] int64: query + answer + end-of-text, right-padded with end-of-text
    at::Tensor logitIndices; // [Q, N] int64: the positions whose next token is an answer token
    at::Tensor targets;      // [Q, N] int64: that next token, -100 where a row is shorter than N
};
AnswerBatch makeAnswerBatch(const std::vector<TokenizedQuery>& queries, std::int64_t padId);

} // namespace sp::demo
