#pragma once
// Splits a chat template into tokens the way Jinja's lexer does with transformers' settings:
// trim_blocks (the first newline after a block or comment tag goes), lstrip_blocks (spaces and tabs
// before a block or comment tag at the start of a line go), `-`/`+` whitespace control, comments,
// raw blocks, and keep_trailing_newline off (one final newline of the source goes).
#include <string>
#include <vector>

namespace sp::chat {

enum class TokenType {
    Text,          // template data between tags
    VariableBegin, // {{
    VariableEnd,   // }}
    BlockBegin,    // {%
    BlockEnd,      // %}
    Name,
    Integer,
    Float,
    String,
    Operator,
    End,           // end of the template
};

struct Token {
    TokenType type;
    std::string value; // text, name, operator, the decoded string literal, the number's digits
    int line = 1;
    int column = 1;
};

// Throws ChatTemplateError on unterminated tags, comments or strings, and unknown characters.
std::vector<Token> tokenize(const std::string& source, const std::string& templateName);

} // namespace sp::chat
