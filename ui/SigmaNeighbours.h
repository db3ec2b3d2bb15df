#pragma once
// The vocabulary tokens whose input embeddings are closest (by cosine) to each σ vector, read from
// the model folder's embedding matrix. A reading aid only: σ need not lie near any token, and the
// model reads it through every layer, not by lookup.
#include "softprompt/soft_prompt.h"
#include "softprompt/tokenizer.h"

#include <cstdint>
#include <string>
#include <vector>

namespace spui {

struct NearestToken {
    std::int32_t id = 0;
    std::string text;
    double cosine = 0.0;
};

struct SigmaNeighbours {
    std::vector<std::vector<NearestToken>> perVector; // [k][count], most similar first
    std::vector<double> sigmaNorms;                   // ‖σ_i‖ per vector
    double meanTokenNorm = 0.0;                       // mean ‖e_v‖ over the vocabulary
    std::string embeddingTensor;                      // the tensor read, e.g. "model.embed_tokens.weight"
};

// Throws sp::Error when the folder has no input-embedding tensor of width sigma.dim.
SigmaNeighbours nearestVocabularyTokens(const std::string& modelFolder, const sp::Tokenizer& tokenizer,
                                        const sp::SoftPrompt& sigma, int count);

} // namespace spui
