#pragma once
// Parses chat-template tokens into a syntax tree, with Jinja's grammar and operator precedence.
#include "chat/ast.h"
#include "chat/lexer.h"

#include <memory>

namespace sp::chat {

// Throws ChatTemplateError (line, column, construct) on a syntax error. Nesting deeper than
// maxDepth (blocks or parenthesised expressions) is an error rather than a stack overflow.
std::unique_ptr<Template> parseTemplate(const std::string& source, const std::string& name, int maxDepth = 200);

} // namespace sp::chat
