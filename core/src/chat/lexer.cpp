#include "chat/lexer.h"

#include "softprompt/chat_template.h"

#include <cstring>

namespace sp::chat {
namespace {

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool isNameStart(unsigned char c) { return std::isalpha(c) || c == '_' || c >= 0x80; }
bool isNameChar(unsigned char c) { return std::isalnum(c) || c == '_' || c >= 0x80; }

// Jinja normalises every newline sequence to "\n" and drops one trailing newline.
std::string normalizeNewlines(const std::string& source) {
    std::string out;
    out.reserve(source.size());
    for (std::size_t i = 0; i < source.size(); ++i) {
        if (source[i] == '\r') {
            out += '\n';
            if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
        } else {
            out += source[i];
        }
    }
    if (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
}

void appendUtf8(std::string& out, unsigned long cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

class Lexer {
public:
    Lexer(const std::string& source, const std::string& name) : src_(normalizeNewlines(source)), name_(name) {}

    std::vector<Token> run() {
        bool lineStarting = true;
        while (pos_ < src_.size()) {
            std::size_t tag = findTagStart(pos_);
            if (tag == std::string::npos) {
                push(TokenType::Text, src_.substr(pos_), pos_);
                pos_ = src_.size();
                break;
            }
            std::string text = src_.substr(pos_, tag - pos_);
            char kind = src_[tag + 1];
            char control = tag + 2 < src_.size() ? src_[tag + 2] : '\0';
            if (control != '-' && control != '+') control = '\0';
            if (control == '-') {
                std::size_t end = text.size();
                while (end > 0 && isSpace(text[end - 1])) --end;
                text.resize(end);
            } else if (control != '+' && kind != '{') {
                // lstrip_blocks: only spaces and tabs between the line start and the tag.
                std::size_t lineStart = text.rfind('\n');
                lineStart = lineStart == std::string::npos ? 0 : lineStart + 1;
                if (lineStart > 0 || lineStarting) {
                    bool onlyWhitespace = lineStart < text.size();
                    for (std::size_t i = lineStart; i < text.size(); ++i)
                        if (!isSpace(text[i])) onlyWhitespace = false;
                    if (onlyWhitespace) text.resize(lineStart);
                }
            }
            if (!text.empty()) push(TokenType::Text, text, pos_);
            std::size_t afterOpen = tag + 2 + (control ? 1 : 0);
            if (kind == '#') {
                lineStarting = lexComment(tag, afterOpen);
            } else if (kind == '%' && isRawBlock(afterOpen)) {
                lineStarting = lexRaw(tag, afterOpen);
            } else {
                lineStarting = lexTag(kind, tag, afterOpen);
            }
        }
        push(TokenType::End, "", src_.size());
        return std::move(tokens_);
    }

private:
    [[noreturn]] void fail(std::size_t at, const std::string& construct, const std::string& message) {
        auto [line, column] = position(at);
        throw ChatTemplateError(name_, line, column, construct, message, false);
    }

    std::pair<int, int> position(std::size_t at) {
        // Positions are mostly asked for in increasing order, so lines and columns are counted
        // incrementally (1-based; columns count code points).
        if (at < lineCountedTo_) {
            lineCountedTo_ = 0;
            line_ = 1;
            column_ = 1;
        }
        for (; lineCountedTo_ < at && lineCountedTo_ < src_.size(); ++lineCountedTo_) {
            unsigned char c = static_cast<unsigned char>(src_[lineCountedTo_]);
            if (c == '\n') {
                ++line_;
                column_ = 1;
            } else if ((c & 0xC0) != 0x80) {
                ++column_;
            }
        }
        return {line_, column_};
    }

    void push(TokenType type, std::string value, std::size_t at) {
        auto [line, column] = position(at);
        tokens_.push_back(Token{type, std::move(value), line, column});
    }

    std::size_t findTagStart(std::size_t from) const {
        for (std::size_t i = src_.find('{', from); i != std::string::npos; i = src_.find('{', i + 1)) {
            if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
        }
        return std::string::npos;
    }

    // After a closing tag: `-` strips all following whitespace, `+` keeps it, and otherwise
    // trim_blocks removes one newline (block and comment tags only). Returns whether the consumed
    // text ended with a newline (Jinja's "line starting" state for lstrip_blocks).
    bool afterClose(std::size_t closeEnd, char control, bool trimNewline) {
        pos_ = closeEnd;
        bool newline = false;
        if (control == '-') {
            while (pos_ < src_.size() && isSpace(src_[pos_])) {
                newline = src_[pos_] == '\n';
                ++pos_;
            }
        } else if (control != '+' && trimNewline && pos_ < src_.size() && src_[pos_] == '\n') {
            ++pos_;
            newline = true;
        }
        return newline;
    }

    bool lexComment(std::size_t tag, std::size_t from) {
        for (std::size_t i = from; i + 1 < src_.size(); ++i) {
            if ((src_[i] == '-' || src_[i] == '+') && i + 2 < src_.size() && src_[i + 1] == '#' && src_[i + 2] == '}')
                return afterClose(i + 3, src_[i], true);
            if (src_[i] == '#' && src_[i + 1] == '}') return afterClose(i + 2, '\0', true);
        }
        fail(tag, "comment", "the comment opened here is never closed with '#}'");
    }

    // {% raw %} ... {% endraw %}: everything between is text.
    bool matchWord(std::size_t& i, const char* word) const {
        while (i < src_.size() && isSpace(src_[i])) ++i;
        std::size_t n = std::strlen(word);
        if (src_.compare(i, n, word) != 0) return false;
        if (i + n < src_.size() && isNameChar(static_cast<unsigned char>(src_[i + n]))) return false;
        i += n;
        while (i < src_.size() && isSpace(src_[i])) ++i;
        return true;
    }

    bool isRawBlock(std::size_t from) const {
        std::size_t i = from;
        if (!matchWord(i, "raw")) return false;
        if (i < src_.size() && (src_[i] == '-' || src_[i] == '+')) ++i;
        return src_.compare(i, 2, "%}") == 0;
    }

    bool lexRaw(std::size_t tag, std::size_t from) {
        std::size_t i = from;
        matchWord(i, "raw");
        char openControl = src_[i] == '%' ? '\0' : src_[i];
        i += openControl ? 3 : 2;
        // Body: up to the first {% endraw %} (with optional whitespace control).
        for (std::size_t j = src_.find("{%", i); j != std::string::npos; j = src_.find("{%", j + 2)) {
            std::size_t k = j + 2;
            char closeOpen = (k < src_.size() && (src_[k] == '-' || src_[k] == '+')) ? src_[k] : '\0';
            if (closeOpen) ++k;
            if (!matchWord(k, "endraw")) continue;
            char closeControl = '\0';
            if (k < src_.size() && (src_[k] == '-' || src_[k] == '+')) closeControl = src_[k++];
            if (src_.compare(k, 2, "%}") != 0) continue;
            std::string body = src_.substr(i, j - i);
            if (openControl == '-') {
                std::size_t s = 0;
                while (s < body.size() && isSpace(body[s])) ++s;
                body.erase(0, s);
            } else if (openControl != '+' && !body.empty() && body[0] == '\n') {
                body.erase(0, 1); // trim_blocks after {% raw %}
            }
            if (closeOpen == '-') {
                while (!body.empty() && isSpace(body.back())) body.pop_back();
            } else if (closeOpen != '+') {
                std::size_t lineStart = body.rfind('\n');
                lineStart = lineStart == std::string::npos ? 0 : lineStart + 1;
                bool onlyWhitespace = lineStart < body.size();
                for (std::size_t m = lineStart; m < body.size(); ++m)
                    if (!isSpace(body[m])) onlyWhitespace = false;
                if (onlyWhitespace && (lineStart > 0 || body.size() == j - i)) body.resize(lineStart);
            }
            if (!body.empty()) push(TokenType::Text, body, i);
            return afterClose(k + 2, closeControl, true);
        }
        fail(tag, "raw", "'{% raw %}' is never closed with '{% endraw %}'");
    }

    bool lexTag(char kind, std::size_t tag, std::size_t from) {
        bool variable = kind == '{';
        push(variable ? TokenType::VariableBegin : TokenType::BlockBegin, variable ? "{{" : "{%", tag);
        pos_ = from;
        int depth = 0; // (), [], {} nesting: a '}}' inside a dict literal does not end the tag
        while (true) {
            while (pos_ < src_.size() && isSpace(src_[pos_])) ++pos_;
            if (pos_ >= src_.size())
                fail(tag, variable ? "expression" : "block tag",
                     std::string("the tag opened here is never closed with '") + (variable ? "}}" : "%}") + "'");
            if (depth == 0) {
                const char* close = variable ? "}}" : "%}";
                char c = src_[pos_];
                if ((c == '-' || (c == '+' && !variable)) && src_.compare(pos_ + 1, 2, close) == 0) {
                    push(variable ? TokenType::VariableEnd : TokenType::BlockEnd, close, pos_);
                    return afterClose(pos_ + 3, c, !variable);
                }
                if (src_.compare(pos_, 2, close) == 0) {
                    push(variable ? TokenType::VariableEnd : TokenType::BlockEnd, close, pos_);
                    return afterClose(pos_ + 2, '\0', !variable);
                }
            }
            lexExpressionToken(depth);
        }
    }

    void lexExpressionToken(int& depth) {
        std::size_t start = pos_;
        unsigned char c = static_cast<unsigned char>(src_[pos_]);
        if (isNameStart(c)) {
            while (pos_ < src_.size() && isNameChar(static_cast<unsigned char>(src_[pos_]))) ++pos_;
            push(TokenType::Name, src_.substr(start, pos_ - start), start);
            return;
        }
        if (std::isdigit(c)) {
            lexNumber();
            return;
        }
        if (c == '\'' || c == '"') {
            lexString();
            return;
        }
        static const char* const twoCharOperators[] = {"//", "**", "==", "!=", "<=", ">="};
        for (const char* op : twoCharOperators) {
            if (src_.compare(pos_, 2, op) == 0) {
                push(TokenType::Operator, op, start);
                pos_ += 2;
                return;
            }
        }
        if (std::strchr("+-*/%~<>=()[]{},.:|;!", static_cast<int>(c)) && c != '\0') {
            if (c == '!') fail(start, "expression", "unexpected '!' (Jinja writes 'not')");
            if (c == '(' || c == '[' || c == '{') ++depth;
            if (c == ')' || c == ']' || c == '}') {
                if (depth == 0) fail(start, "expression", std::string("unexpected '") + static_cast<char>(c) + "'");
                --depth;
            }
            push(TokenType::Operator, std::string(1, static_cast<char>(c)), start);
            ++pos_;
            return;
        }
        fail(start, "expression", std::string("unexpected character '") + static_cast<char>(c) + "'");
    }

    void lexNumber() {
        std::size_t start = pos_;
        auto digits = [&] {
            std::string out;
            while (pos_ < src_.size() && (std::isdigit(static_cast<unsigned char>(src_[pos_])) ||
                                          (src_[pos_] == '_' && pos_ + 1 < src_.size() &&
                                           std::isdigit(static_cast<unsigned char>(src_[pos_ + 1]))))) {
                if (src_[pos_] != '_') out += src_[pos_];
                ++pos_;
            }
            return out;
        };
        std::string text = digits();
        bool isFloat = false;
        if (pos_ + 1 < src_.size() && src_[pos_] == '.' && std::isdigit(static_cast<unsigned char>(src_[pos_ + 1]))) {
            ++pos_;
            text += "." + digits();
            isFloat = true;
        }
        if (pos_ < src_.size() && (src_[pos_] == 'e' || src_[pos_] == 'E')) {
            std::size_t save = pos_;
            ++pos_;
            std::string exponent = "e";
            if (pos_ < src_.size() && (src_[pos_] == '+' || src_[pos_] == '-')) exponent += src_[pos_++];
            if (pos_ < src_.size() && std::isdigit(static_cast<unsigned char>(src_[pos_]))) {
                text += exponent + digits();
                isFloat = true;
            } else {
                pos_ = save;
            }
        }
        push(isFloat ? TokenType::Float : TokenType::Integer, text, start);
    }

    void lexString() {
        std::size_t start = pos_;
        char quote = src_[pos_++];
        std::string out;
        while (true) {
            if (pos_ >= src_.size()) fail(start, "string literal", "the string opened here is never closed");
            char c = src_[pos_++];
            if (c == quote) break;
            if (c != '\\') {
                out += c;
                continue;
            }
            if (pos_ >= src_.size()) fail(start, "string literal", "the string opened here is never closed");
            char e = src_[pos_++];
            switch (e) {
            case 'n': out += '\n'; break;
            case 't': out += '\t'; break;
            case 'r': out += '\r'; break;
            case '\\': out += '\\'; break;
            case '\'': out += '\''; break;
            case '"': out += '"'; break;
            case 'a': out += '\a'; break;
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'v': out += '\v'; break;
            case '\n': break; // line continuation
            case 'x':
            case 'u':
            case 'U': {
                std::size_t n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                unsigned long cp = 0;
                for (std::size_t k = 0; k < n; ++k) {
                    if (pos_ >= src_.size() || !std::isxdigit(static_cast<unsigned char>(src_[pos_])))
                        fail(start, "string literal", std::string("truncated \\") + e + " escape");
                    char h = src_[pos_++];
                    cp = cp * 16 + static_cast<unsigned long>(std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : (std::tolower(h) - 'a' + 10));
                }
                if (cp > 0x10FFFF) fail(start, "string literal", "escape beyond U+10FFFF");
                appendUtf8(out, cp);
                break;
            }
            default:
                if (e >= '0' && e <= '7') {
                    unsigned long cp = static_cast<unsigned long>(e - '0');
                    for (int k = 0; k < 2 && pos_ < src_.size() && src_[pos_] >= '0' && src_[pos_] <= '7'; ++k)
                        cp = cp * 8 + static_cast<unsigned long>(src_[pos_++] - '0');
                    appendUtf8(out, cp);
                } else {
                    out += '\\';
                    out += e;
                }
            }
        }
        push(TokenType::String, std::move(out), start);
    }

    std::string src_;
    std::string name_;
    std::size_t pos_ = 0;
    std::vector<Token> tokens_;
    std::size_t lineCountedTo_ = 0;
    int line_ = 1;
    int column_ = 1;
};

} // namespace

std::vector<Token> tokenize(const std::string& source, const std::string& templateName) {
    return Lexer(source, templateName).run();
}

} // namespace sp::chat
