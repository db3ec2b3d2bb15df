// Chat templates from the command line:
//   softprompt chat render --model DIR|demo --messages FILE.json [--add-generation-prompt] [--template NAME]
//   softprompt chat layout --model DIR|demo [--template NAME]
// `render` prints the conversation as the model's template renders it (transformers'
// apply_chat_template(tokenize=False)) and its ids (tokenised as one string without special tokens,
// as apply_chat_template(tokenize=True) does). `layout` prints the pieces the workbench puts around
// the context and the query: [pre][context → σ][mid][query][post].
#include "cli_common.h"
#include "registry.h"

#include "softprompt/chat_model_files.h"
#include "softprompt/error.h"
#include "softprompt/paths.h"
#include "softprompt/prompt_format.h"
#include "softprompt/prompt_pieces_json.h"
#include "softprompt/tokenizer.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <memory>

namespace {

namespace fs = std::filesystem;

std::string modelFolder(const std::string& pathOrDemo)
{
    const std::string folder = pathOrDemo == "demo" ? sp::demoModelDirectory() : pathOrDemo;
    std::error_code error;
    if (!fs::is_directory(folder, error))
        throw sp::Error(sp::fileError(folder, "no such model folder; pass a Hugging Face folder or \"demo\""));
    return folder;
}

std::vector<sp::ChatTurn> readMessages(const std::string& path)
{
    const nlohmann::json root = nlohmann::json::parse(sp::readTextFile(path), nullptr, false);
    const nlohmann::json* list = &root;
    if (root.is_object() && root.contains("messages"))
        list = &root.at("messages");
    if (root.is_discarded() || !list->is_array())
        throw sp::Error(sp::fileError(path, "must hold a JSON list of messages, [{\"role\": \"system\", "
                                            "\"content\": \"...\"}, {\"role\": \"user\", ...}]"));
    std::vector<sp::ChatTurn> messages;
    for (const nlohmann::json& item : *list) {
        if (!item.is_object() || !item.contains("role") || !item.at("role").is_string() ||
            (item.contains("content") && !item.at("content").is_string()))
            throw sp::Error(sp::fileError(path, "each message must be {\"role\": \"...\", \"content\": \"...\"}; "
                                                "found " + item.dump().substr(0, 120)));
        messages.push_back({item.at("role").get<std::string>(), item.value("content", std::string())});
    }
    return messages;
}

struct RenderOptions {
    std::string model;
    std::string messages;
    std::string templateName;
    bool addGenerationPrompt = false;
};

void runRender(const RenderOptions& options)
{
    const std::string folder = modelFolder(options.model);
    const sp::ChatModelFiles files = sp::readChatModelFiles(folder);
    const std::string text = sp::renderChatConversation(files, readMessages(options.messages),
                                                        options.addGenerationPrompt, options.templateName);
    const sp::Tokenizer tokenizer = sp::Tokenizer::fromFile(folder);
    spcli::printJson({{"template", files.chatTemplate(options.templateName).name},
                      {"origin", files.chatTemplate(options.templateName).origin},
                      {"text", text},
                      {"ids", tokenizer.encode(text, false)}});
}

void runLayout(const std::string& model, const std::string& templateName)
{
    const std::string folder = modelFolder(model);
    const sp::ChatModelFiles files = sp::readChatModelFiles(folder);
    nlohmann::json output = sp::promptPiecesToJson(sp::chatPromptPieces(files, templateName));
    output["eos_token_ids"] = files.eosTokenIds;
    spcli::printJson(output);
}

void registerChatCommands(CLI::App& app)
{
    CLI::App* chat = app.add_subcommand("chat", "Chat templates: render a conversation, show the prompt layout");
    chat->require_subcommand(1);

    auto render = std::make_shared<RenderOptions>();
    CLI::App* renderCommand =
        chat->add_subcommand("render", "Render messages with the model's chat template; print the text and its ids");
    renderCommand->add_option("--model", render->model, "A Hugging Face model folder, or \"demo\"")->required();
    renderCommand->add_option("--messages", render->messages, "JSON: [{\"role\": ..., \"content\": ...}, ...]")
        ->required();
    renderCommand->add_flag("--add-generation-prompt", render->addGenerationPrompt,
                            "End with the assistant turn's opening (add_generation_prompt=True)");
    renderCommand->add_option("--template", render->templateName, "One of the model's named templates");
    renderCommand->callback([render] { runRender(*render); });

    auto layoutModel = std::make_shared<std::string>();
    auto layoutTemplate = std::make_shared<std::string>();
    CLI::App* layout = chat->add_subcommand(
        "layout", "The text around the context and the query: [pre][context → σ][mid][query][post]");
    layout->add_option("--model", *layoutModel, "A Hugging Face model folder, or \"demo\"")->required();
    layout->add_option("--template", *layoutTemplate, "One of the model's named templates");
    layout->callback([=] { runLayout(*layoutModel, *layoutTemplate); });
}

} // namespace

SP_REGISTER_CLI_COMMANDS(35, registerChatCommands);
