#include "softprompt/chat_model_files.h"

#include "softprompt/error.h"
#include "softprompt/paths.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace sp {

namespace {

json parseJson(const std::string& text, const std::string& path)
{
    try {
        return json::parse(text);
    } catch (const json::exception& error) {
        throw Error(fileError(path, std::string("is not valid JSON (") + error.what() +
                                        "); re-download it from the model's repository"));
    }
}

// eos_token_id: an integer, a list of integers, or null/absent.
void appendIds(const json& root, const std::string& path, std::vector<std::int64_t>& ids)
{
    if (!root.is_object() || !root.contains("eos_token_id") || root.at("eos_token_id").is_null())
        return;
    const json& value = root.at("eos_token_id");
    const auto add = [&](const json& item) {
        if (!item.is_number_integer())
            throw Error(fileError(path, "eos_token_id must be an integer or a list of integers, found " +
                                            item.dump()));
        const auto id = item.get<std::int64_t>();
        if (std::find(ids.begin(), ids.end(), id) == ids.end())
            ids.push_back(id);
    };
    if (value.is_array())
        for (const json& item : value)
            add(item);
    else
        add(value);
}

// A special token as the template sees it: a string, or an AddedToken object's "content".
bool tokenText(const json& value, std::string& text)
{
    if (value.is_string()) {
        text = value.get<std::string>();
        return true;
    }
    if (value.is_object() && value.contains("content") && value.at("content").is_string()) {
        text = value.at("content").get<std::string>();
        return true;
    }
    return false;
}

} // namespace

const NamedChatTemplate& ChatModelFiles::chatTemplate(const std::string& name) const
{
    if (templates.empty())
        throw Error("this model has no chat template (no chat_template in tokenizer_config.json and no "
                    "chat_template.jinja); use the plain format, or copy the template of its instruct "
                    "version into the folder");
    const std::string wanted = name.empty() ? "default" : name;
    for (const NamedChatTemplate& entry : templates)
        if (entry.name == wanted)
            return entry;
    if (name.empty())
        return templates.front();
    std::string names;
    for (const NamedChatTemplate& entry : templates)
        names += (names.empty() ? "" : ", ") + entry.name;
    throw Error("the model has no chat template named \"" + name + "\"; it has: " + names);
}

ChatModelFiles chatModelFilesFromTexts(const std::string& tokenizerConfigJson, const std::string& templateJinja,
                                       const std::string& configJson, const std::string& generationConfigJson,
                                       const std::string& folder)
{
    ChatModelFiles files;
    const std::string tokenizerConfigPath = (fs::path(folder) / "tokenizer_config.json").string();
    if (!tokenizerConfigJson.empty()) {
        const json root = parseJson(tokenizerConfigJson, tokenizerConfigPath);
        if (!root.is_object())
            throw Error(fileError(tokenizerConfigPath, "must hold a JSON object"));
        for (const auto& [key, value] : root.items()) {
            std::string text;
            if (key.size() > 6 && key.compare(key.size() - 6, 6, "_token") == 0 && tokenText(value, text))
                files.specialTokens[key] = text;
        }
        if (root.contains("chat_template") && !root.at("chat_template").is_null()) {
            const json& value = root.at("chat_template");
            if (value.is_string()) {
                files.templates.push_back({"default", value.get<std::string>(), tokenizerConfigPath});
            } else if (value.is_array()) {
                for (const json& item : value) {
                    if (!item.is_object() || !item.contains("name") || !item.contains("template") ||
                        !item.at("name").is_string() || !item.at("template").is_string())
                        throw Error(fileError(tokenizerConfigPath,
                                              "chat_template is a list whose items must be {\"name\": "
                                              "\"...\", \"template\": \"...\"}; found " +
                                                  item.dump().substr(0, 120)));
                    files.templates.push_back(
                        {item.at("name").get<std::string>(), item.at("template").get<std::string>(),
                         tokenizerConfigPath});
                }
            } else {
                throw Error(fileError(tokenizerConfigPath,
                                      "chat_template must be a string or a list of {name, template}"));
            }
        }
    }
    // transformers prefers chat_template.jinja over the config's template of the same (default) name.
    if (!templateJinja.empty()) {
        const std::string path = (fs::path(folder) / "chat_template.jinja").string();
        const auto found = std::find_if(files.templates.begin(), files.templates.end(),
                                        [](const NamedChatTemplate& entry) { return entry.name == "default"; });
        if (found != files.templates.end())
            *found = {"default", templateJinja, path};
        else
            files.templates.insert(files.templates.begin(), {"default", templateJinja, path});
    }
    if (!configJson.empty())
        appendIds(parseJson(configJson, (fs::path(folder) / "config.json").string()),
                  (fs::path(folder) / "config.json").string(), files.eosTokenIds);
    if (!generationConfigJson.empty())
        appendIds(parseJson(generationConfigJson, (fs::path(folder) / "generation_config.json").string()),
                  (fs::path(folder) / "generation_config.json").string(), files.eosTokenIds);
    return files;
}

ChatModelFiles readChatModelFiles(const std::string& folder)
{
    const auto readIfPresent = [&](const char* name) {
        const fs::path path = fs::path(folder) / name;
        std::error_code error;
        return fs::is_regular_file(path, error) ? readTextFile(path.string()) : std::string();
    };
    return chatModelFilesFromTexts(readIfPresent("tokenizer_config.json"), readIfPresent("chat_template.jinja"),
                                   readIfPresent("config.json"), readIfPresent("generation_config.json"),
                                   folder);
}

} // namespace sp
