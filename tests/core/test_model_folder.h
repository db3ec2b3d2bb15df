#pragma once
// A random tiny Llama-style model folder (config.json + model.safetensors + a byte-level
// tokenizer.json that, like Llama's, puts <s> before every text), for tests that load a model the
// way the front ends do (ModelHandle::load, `softprompt train --model FOLDER`).
#include "test_engine_support.h"

#include "softprompt/paths.h"

#include <QDir>
#include <QString>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <string>
#include <vector>

namespace enginetest {

// GPT-2's bytes_to_unicode: the printable character that stands for each byte in tokenizer.json.
inline std::string byteSymbol(int byte)
{
    std::vector<int> printable;
    for (int b = 0; b < 256; ++b)
        if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))
            printable.push_back(b);
    int code = byte;
    if (std::find(printable.begin(), printable.end(), byte) == printable.end()) {
        int shifted = 0;
        for (int b = 0; b < byte; ++b)
            shifted += std::find(printable.begin(), printable.end(), b) == printable.end();
        code = 256 + shifted;
    }
    std::string symbol;
    if (code < 0x80) {
        symbol.push_back(char(code));
    } else {
        symbol.push_back(char(0xC0 | (code >> 6)));
        symbol.push_back(char(0x80 | (code & 0x3F)));
    }
    return symbol;
}

inline void writeModelFolder(const QString& folder)
{
    sp::ModelConfig config = enginetest::tinyConfig(sp::Architecture::Llama);
    config.bosTokenId = enginetest::kBos; // "<s>"
    config.eosTokenIds = {enginetest::kEos};
    sp::model::RandomInit init;
    init.weightStd = 0.25;
    sp::model::CausalLM::createRandom(config, 5, at::kCPU, at::kFloat, init)->save(folder.toStdString());
    nlohmann::json vocab = nlohmann::json::object();
    for (int b = 0; b < 256; ++b)
        vocab[byteSymbol(b)] = b;
    const auto special = [](int id, const char* content) {
        return nlohmann::json{{"id", id},        {"content", content}, {"single_word", false},
                              {"lstrip", false}, {"rstrip", false},    {"normalized", false},
                              {"special", true}};
    };
    const nlohmann::json bos{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}};
    const nlohmann::json tokenizer{
        {"version", "1.0"},
        {"added_tokens", {special(enginetest::kBos, "<s>"), special(enginetest::kEos, "</s>")}},
        {"normalizer", nullptr},
        {"pre_tokenizer",
         {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
        {"post_processor",
         {{"type", "TemplateProcessing"},
          {"single", {bos, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
          {"pair",
           {bos,
            {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
            {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}}},
          {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {enginetest::kBos}}, {"tokens", {"<s>"}}}}}}}},
        {"decoder",
         {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
        {"model",
         {{"type", "BPE"},
          {"dropout", nullptr},
          {"unk_token", nullptr},
          {"continuing_subword_prefix", nullptr},
          {"end_of_word_suffix", nullptr},
          {"fuse_unk", false},
          {"byte_fallback", false},
          {"vocab", vocab},
          {"merges", nlohmann::json::array()}}}};
    sp::writeTextFile(QDir(folder).filePath("tokenizer.json").toStdString(), tokenizer.dump());
}

} // namespace enginetest
