#include "demo/demo_batches.h"

#include <algorithm>

namespace sp::demo {

std::vector<std::int64_t> encodeIds(const Tokenizer& tokenizer, const std::string& text)
{
    const std::vector<std::int32_t> ids = tokenizer.encode(text);
    return std::vector<std::int64_t>(ids.begin(), ids.end());
}

TokenizedQuery tokenizeQuery(const Tokenizer& tokenizer, const DemoQuery& query, std::int64_t endOfText)
{
    TokenizedQuery tokenized;
    tokenized.query = encodeIds(tokenizer, query.query);
    tokenized.answer = encodeIds(tokenizer, query.answer);
    tokenized.answer.push_back(endOfText);
    return tokenized;
}

AnswerBatch makeAnswerBatch(const std::vector<TokenizedQuery>& queries, std::int64_t padId)
{
    const std::int64_t rows = std::int64_t(queries.size());
    std::int64_t length = 0;
    std::int64_t scored = 0;
    for (const TokenizedQuery& query : queries) {
        length = std::max<std::int64_t>(length, std::int64_t(query.query.size() + query.answer.size()));
        scored = std::max<std::int64_t>(scored, std::int64_t(query.answer.size()));
    }
    AnswerBatch batch;
    batch.ids = at::full({rows, length}, padId, at::kLong);                  // [Q, T]
    batch.logitIndices = at::zeros({rows, scored}, at::kLong);               // [Q, N]
    batch.targets = at::full({rows, scored}, std::int64_t(-100), at::kLong); // [Q, N]
    auto ids = batch.ids.accessor<std::int64_t, 2>();
    auto indices = batch.logitIndices.accessor<std::int64_t, 2>();
    auto targets = batch.targets.accessor<std::int64_t, 2>();
    for (std::int64_t row = 0; row < rows; ++row) {
        const TokenizedQuery& query = queries[std::size_t(row)];
        const std::int64_t queryLength = std::int64_t(query.query.size());
        for (std::int64_t t = 0; t < queryLength; ++t)
            ids[row][t] = query.query[std::size_t(t)];
        for (std::size_t a = 0; a < query.answer.size(); ++a)
            ids[row][queryLength + std::int64_t(a)] = query.answer[a];
        // The logit at position p predicts token p + 1: the last query token predicts the first
        // answer token.
        for (std::int64_t n = 0; n < scored; ++n) {
            const bool real = n < std::int64_t(query.answer.size());
            indices[row][n] = queryLength - 1 + (real ? n : 0);
            if (real)
                targets[row][n] = query.answer[std::size_t(n)];
        }
    }
    return batch;
}

} // namespace sp::demo
