#pragma once
// Renders a parsed chat template: Jinja's semantics for scoping (a for loop's body and a macro get
// their own scope; if does not), loop objects, loop controls, macros with caller(), filter and set
// blocks, with limits on steps, nesting and output size.
#include "chat/ast.h"
#include "chat/builtins.h"

#include "softprompt/chat_template.h"

#include <string>
#include <utility>
#include <vector>

namespace sp::chat {

// Throws ChatTemplateError (with the position and construct that failed).
std::string renderTemplate(const Template& tmpl, const std::vector<std::pair<std::string, Value>>& variables,
                           const ChatTemplateLimits& limits, std::optional<std::int64_t> nowUnixSeconds);

} // namespace sp::chat
