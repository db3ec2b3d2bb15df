#include "softprompt/chat_template.h"

#include "chat/evaluator.h"
#include "chat/parser.h"
#include "chat/tojson.h"

#include <nlohmann/json.hpp>

namespace sp {

namespace {

std::string describeError(const std::string& templateName, int line, int column, const std::string& construct,
                          const std::string& message, bool raisedByTemplate) {
    std::string where = templateName;
    if (line > 0) where += ", line " + std::to_string(line) + ", column " + std::to_string(column);
    if (raisedByTemplate) return "the chat template refused the conversation: " + message + " (" + where + ")";
    return "chat template error in " + where + (construct.empty() ? "" : " (" + construct + ")") + ": " + message;
}

} // namespace

ChatTemplateError::ChatTemplateError(std::string templateName, int line, int column, std::string construct,
                                     std::string message, bool raisedByTemplate)
    : Error(describeError(templateName, line, column, construct, message, raisedByTemplate)),
      templateName_(std::move(templateName)),
      line_(line),
      column_(column),
      construct_(std::move(construct)),
      message_(std::move(message)),
      raisedByTemplate_(raisedByTemplate) {}

namespace chat_detail {
struct CompiledTemplate {
    std::unique_ptr<chat::Template> tmpl;
};
} // namespace chat_detail

ChatTemplate ChatTemplate::compile(const std::string& source, const std::string& name) {
    auto compiled = std::make_shared<chat_detail::CompiledTemplate>();
    compiled->tmpl = chat::parseTemplate(source, name);
    ChatTemplate result;
    result.compiled_ = std::move(compiled);
    return result;
}

const std::string& ChatTemplate::name() const {
    static const std::string empty;
    return compiled_ ? compiled_->tmpl->name : empty;
}

const std::string& ChatTemplate::source() const {
    static const std::string empty;
    return compiled_ ? compiled_->tmpl->source : empty;
}

std::string ChatTemplate::render(const ChatRenderInput& input) const {
    if (!compiled_) throw ChatTemplateError("chat_template", 0, 0, "render", "no template was compiled", false);
    const std::string& name = compiled_->tmpl->name;
    nlohmann::ordered_json extra;
    try {
        extra = nlohmann::ordered_json::parse(input.extraVariablesJson.empty() ? std::string("{}") : input.extraVariablesJson);
    } catch (const nlohmann::json::exception& e) {
        throw ChatTemplateError(name, 0, 0, "variables", std::string("the extra variables are not valid JSON: ") + e.what(), false);
    }
    if (!extra.is_object())
        throw ChatTemplateError(name, 0, 0, "variables", "the extra variables must be a JSON object", false);

    // As transformers' apply_chat_template: messages, tools=None, documents=None,
    // add_generation_prompt, the special tokens as strings, then every other keyword argument.
    std::vector<std::pair<std::string, chat::Value>> variables;
    std::vector<chat::Value> messages;
    for (const auto& m : input.messages) {
        chat::Value message = chat::Value::makeDict();
        message.dict->set(chat::Value::from("role"), chat::Value::from(m.role));
        message.dict->set(chat::Value::from("content"), chat::Value::from(m.content));
        messages.push_back(std::move(message));
    }
    variables.emplace_back("messages", chat::Value::makeList(std::move(messages)));
    variables.emplace_back("tools", chat::Value::none());
    variables.emplace_back("documents", chat::Value::none());
    variables.emplace_back("add_generation_prompt", chat::Value::from(input.addGenerationPrompt));
    for (const auto& [key, value] : input.specialTokens) variables.emplace_back(key, chat::Value::from(value));
    for (auto it = extra.begin(); it != extra.end(); ++it) {
        chat::Value value = chat::valueFromJson(it.value());
        bool replaced = false;
        for (auto& v : variables)
            if (v.first == it.key()) {
                v.second = value;
                replaced = true;
            }
        if (!replaced) variables.emplace_back(it.key(), std::move(value));
    }
    return chat::renderTemplate(*compiled_->tmpl, variables, limits_, input.nowUnixSeconds);
}

} // namespace sp
