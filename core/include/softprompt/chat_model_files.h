#pragma once
// What a model folder says about chat: its chat template(s), the special tokens a template refers
// to, and every id that ends an assistant turn. Torch-free: the GUI reads it to show the format.
//
//   chat_template.jinja        the template, when present (newer transformers write it there)
//   tokenizer_config.json      "chat_template": a string, or a list of {"name", "template"};
//                              bos_token / eos_token / ...: strings or AddedToken objects {"content"}
//   config.json                eos_token_id: an id or a list
//   generation_config.json     eos_token_id: an id or a list (Llama-3-Instruct's <|eot_id|> is only here)
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace sp {

struct NamedChatTemplate {
    std::string name;   // "default" for a plain string or chat_template.jinja
    std::string source; // the Jinja text
    std::string origin; // the file it came from
};

struct ChatModelFiles {
    std::vector<NamedChatTemplate> templates;
    // bos_token, eos_token, pad_token, unk_token, ...: the strings templates see.
    std::map<std::string, std::string> specialTokens;
    // config.json's eos_token_id ∪ generation_config.json's, in that order, without repeats.
    std::vector<std::int64_t> eosTokenIds;

    bool hasTemplate() const { return !templates.empty(); }
    // The named template ("" = "default", else the first). Throws sp::Error listing the names.
    const NamedChatTemplate& chatTemplate(const std::string& name = "") const;
};

// Reads the files above from `folder` (each optional). Throws sp::Error naming the file when one
// is present but malformed.
ChatModelFiles readChatModelFiles(const std::string& folder);
// The same from texts ("" = the file is absent), for tests and embedded models.
ChatModelFiles chatModelFilesFromTexts(const std::string& tokenizerConfigJson, const std::string& templateJinja,
                                       const std::string& configJson, const std::string& generationConfigJson,
                                       const std::string& folderForMessages = "<model>");

} // namespace sp
