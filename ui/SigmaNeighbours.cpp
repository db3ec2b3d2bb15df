#include "SigmaNeighbours.h"

#include "softprompt/error.h"
#include "softprompt/safetensors.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace spui {
namespace {

// The Hugging Face names of the input embedding for the supported architectures.
const char* const kEmbeddingNames[] = {"model.embed_tokens.weight", "transformer.wte.weight", "wte.weight",
                                       "embed_tokens.weight"};

float halfToFloat(std::uint16_t h)
{
    const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
    std::uint32_t exponent = (h >> 10) & 0x1fu;
    std::uint32_t mantissa = h & 0x3ffu;
    std::uint32_t bits;
    if (exponent == 0) {
        if (mantissa == 0) {
            bits = sign;
        } else { // subnormal: normalise
            exponent = 127 - 15 + 1;
            while (!(mantissa & 0x400u)) {
                mantissa <<= 1;
                --exponent;
            }
            mantissa &= 0x3ffu;
            bits = sign | (exponent << 23) | (mantissa << 13);
        }
    } else if (exponent == 0x1f) {
        bits = sign | 0x7f800000u | (mantissa << 13);
    } else {
        bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
    }
    float value;
    std::memcpy(&value, &bits, sizeof value);
    return value;
}

float bfloatToFloat(std::uint16_t b)
{
    const std::uint32_t bits = std::uint32_t(b) << 16;
    float value;
    std::memcpy(&value, &bits, sizeof value);
    return value;
}

// Row `row` of a [V, d] embedding matrix as float32.
void readRow(const sp::TensorView& tensor, std::int64_t row, std::int64_t dim, std::vector<float>& out)
{
    out.resize(size_t(dim));
    const std::byte* base = tensor.data + size_t(row * dim) * sp::dtypeSize(tensor.dtype);
    switch (tensor.dtype) {
    case sp::TensorDType::F32:
        std::memcpy(out.data(), base, size_t(dim) * sizeof(float));
        break;
    case sp::TensorDType::F16:
    case sp::TensorDType::BF16:
        for (std::int64_t j = 0; j < dim; ++j) {
            std::uint16_t bits;
            std::memcpy(&bits, base + size_t(j) * 2, 2);
            out[size_t(j)] = tensor.dtype == sp::TensorDType::F16 ? halfToFloat(bits) : bfloatToFloat(bits);
        }
        break;
    default:
        throw sp::Error("embedding tensor " + tensor.name + " has dtype " + sp::dtypeName(tensor.dtype) +
                        "; only F32, F16 and BF16 embeddings can be inspected");
    }
}

} // namespace

SigmaNeighbours nearestVocabularyTokens(const std::string& modelFolder, const sp::Tokenizer& tokenizer,
                                        const sp::SoftPrompt& sigma, int count)
{
    if (sigma.empty() || sigma.k <= 0 || sigma.dim <= 0)
        throw sp::Error("there is no σ to inspect: train one, or open a run that has a σ checkpoint");
    const sp::SafetensorsCheckpoint checkpoint = sp::SafetensorsCheckpoint::openFolder(modelFolder);
    const sp::TensorView* embedding = nullptr;
    for (const char* name : kEmbeddingNames)
        if (checkpoint.contains(name)) {
            embedding = &checkpoint.tensor(name);
            break;
        }
    if (!embedding || embedding->shape.size() != 2)
        throw sp::Error(modelFolder + ": no input-embedding matrix (model.embed_tokens.weight or wte.weight) "
                                      "found; the σ inspector needs the model's own weights");
    const std::int64_t vocab = embedding->shape[0];
    const std::int64_t dim = embedding->shape[1];
    if (dim != sigma.dim)
        throw sp::Error("σ has width " + std::to_string(sigma.dim) + " but " + embedding->name + " in " +
                        modelFolder + " has width " + std::to_string(dim) +
                        ": this σ was trained on another model; load that model to inspect it");

    SigmaNeighbours result;
    result.embeddingTensor = embedding->name;
    // σ rows normalised once: cosine = <σ_i/‖σ_i‖, e_v>/‖e_v‖.
    std::vector<double> unitSigma(size_t(sigma.k * dim)); // [k, d]
    for (int i = 0; i < sigma.k; ++i) {
        double norm = 0.0;
        for (std::int64_t j = 0; j < dim; ++j)
            norm += double(sigma.values[size_t(i * dim + j)]) * sigma.values[size_t(i * dim + j)];
        norm = std::sqrt(norm);
        result.sigmaNorms.push_back(norm);
        for (std::int64_t j = 0; j < dim; ++j)
            unitSigma[size_t(i * dim + j)] = norm > 0 ? sigma.values[size_t(i * dim + j)] / norm : 0.0;
    }
    const size_t keep = size_t(std::max(1, count));
    std::vector<std::vector<std::pair<double, std::int32_t>>> best(size_t(sigma.k)); // min-heaps of size keep
    auto worse = [](const auto& a, const auto& b) { return a.first > b.first; };
    std::vector<float> row; // [d]
    double normSum = 0.0;
    for (std::int64_t v = 0; v < vocab; ++v) {
        readRow(*embedding, v, dim, row);
        double norm = 0.0;
        for (float x : row)
            norm += double(x) * x;
        norm = std::sqrt(norm);
        normSum += norm;
        if (norm == 0.0)
            continue;
        for (int i = 0; i < sigma.k; ++i) {
            const double* u = &unitSigma[size_t(i * dim)];
            double dot = 0.0;
            for (std::int64_t j = 0; j < dim; ++j)
                dot += u[j] * row[size_t(j)];
            const double cosine = dot / norm;
            auto& heap = best[size_t(i)];
            if (heap.size() < keep) {
                heap.emplace_back(cosine, std::int32_t(v));
                std::push_heap(heap.begin(), heap.end(), worse);
            } else if (cosine > heap.front().first) {
                std::pop_heap(heap.begin(), heap.end(), worse);
                heap.back() = {cosine, std::int32_t(v)};
                std::push_heap(heap.begin(), heap.end(), worse);
            }
        }
    }
    result.meanTokenNorm = vocab > 0 ? normSum / double(vocab) : 0.0;
    for (auto& heap : best) {
        std::sort(heap.begin(), heap.end(), worse); // most similar first
        std::vector<NearestToken> tokens;
        for (const auto& [cosine, id] : heap) {
            NearestToken token;
            token.id = id;
            token.cosine = cosine;
            try {
                token.text = tokenizer.decode({id});
            } catch (const std::exception&) {
                token.text.clear();
            }
            // A lone byte of a multi-byte character decodes to U+FFFD: show the vocabulary entry.
            if (token.text.empty() || token.text.find("\xEF\xBF\xBD") != std::string::npos)
                token.text = tokenizer.idToToken(id);
            tokens.push_back(std::move(token));
        }
        result.perVector.push_back(std::move(tokens));
    }
    return result;
}

} // namespace spui
