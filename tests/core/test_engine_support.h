#pragma once
// A tiny random model with a byte-level codec, for the engine's training tests: ids 0..255 are
// bytes, 256 is BOS (put before every text, as Llama tokenizers do) and 257 is EOS.
#include "optim/adam.h"
#include "engine/task.h"
#include "model/causal_lm.h"
#include "softprompt/model_shape.h"

#include <string>
#include <vector>

namespace enginetest {

constexpr std::int32_t kBos = 256;
constexpr std::int32_t kEos = 257;

inline sp::ModelConfig tinyConfig(sp::Architecture architecture)
{
    const bool llama = architecture == sp::Architecture::Llama;
    // ModelShape: vocabulary, hidden, intermediate, layers, heads, key/value heads, head dim, positions.
    sp::ModelConfig config = sp::shapedModelConfig(llama ? "llama" : "gpt2", {258, 32, 64, 2, 4, llama ? 2 : 4, 8, 160});
    config.tieWordEmbeddings = !llama;
    config.bosTokenId = kBos;
    config.eosTokenIds = {kEos};
    return config;
}

// Large random weights make the model's predictions depend strongly on the context, so that
// compressing it is a real task.
inline sp::engine::EngineModel tinyModel(sp::Architecture architecture = sp::Architecture::Llama,
                                         std::uint64_t seed = 7, bool withBos = true)
{
    sp::model::RandomInit init;
    init.weightStd = 0.25;
    sp::engine::EngineModel model;
    model.lm = sp::model::CausalLM::createRandom(tinyConfig(architecture), seed, at::kCPU, at::kFloat, init);
    sp::engine::useByteLevelCodec(model);
    if (withBos)
        model.prefixIds = {kBos};
    model.stopIds = {kEos};
    model.identity = std::string("test-random-") +
                     (architecture == sp::Architecture::Llama ? "llama" : "gpt2") + "-" +
                     std::to_string(seed) + (withBos ? "-bos" : "");
    return model;
}

inline std::string tinyContext()
{
    return "Rules: answer in capitals, start with OK, end with a dot. Glossary: zorp = blue.";
}

inline std::vector<sp::Query> tinyQueries(int count = 12)
{
    static const char* const texts[] = {
        "What is zorp?", "Say hi",     "Name a colour", "2+2=",   "Who are you?", "Why?",
        "Spell cat",     "Count to 3", "zorp zorp",     "Rules?", "End it",       "Begin",
        "Capital of X?", "A dot?",     "OK or not",     "blue?"};
    std::vector<sp::Query> queries;
    for (int i = 0; i < count; ++i)
        queries.push_back({texts[i % 16], "", false});
    return queries;
}

inline sp::CompressionTask makeTask(sp::engine::EngineModel model = tinyModel(),
                                    std::string context = tinyContext(),
                                    std::vector<sp::Query> queries = tinyQueries())
{
    return sp::engine::taskFromImpl(
        sp::engine::makeTaskImpl(std::move(model), std::move(context), std::move(queries)));
}

inline sp::TrainConfig fastConfig()
{
    sp::TrainConfig config;
    config.k = 4;
    config.steps = 200;
    config.learningRate = 0.05;
    config.warmupSteps = 5;
    config.batchSize = 8;
    config.evalInterval = 50;
    config.checkpointInterval = 0;
    config.init = sp::InitKind::Text;
    config.seed = 3;
    return config;
}

} // namespace enginetest
