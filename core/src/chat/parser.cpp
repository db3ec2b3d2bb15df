#include "chat/parser.h"

#include "softprompt/chat_template.h"

#include <cerrno>
#include <cstdlib>
#include <set>

namespace sp::chat {
namespace {

class Parser {
public:
    Parser(std::vector<Token> tokens, std::string name, int maxDepth)
        : tokens_(std::move(tokens)), name_(std::move(name)), maxDepth_(maxDepth) {}

    Body parseAll() {
        std::string endTag;
        Body body = parseBody({}, endTag);
        return body;
    }

private:
    // ---- token stream -------------------------------------------------------------------------
    const Token& current() const { return tokens_[pos_]; }
    const Token& peek(std::size_t ahead = 1) const {
        return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)];
    }
    const Token& advance() {
        const Token& t = tokens_[pos_];
        if (pos_ + 1 < tokens_.size()) ++pos_;
        return t;
    }
    bool isOperator(const char* op) const { return current().type == TokenType::Operator && current().value == op; }
    bool isName(const char* name) const { return current().type == TokenType::Name && current().value == name; }
    bool skipOperator(const char* op) {
        if (!isOperator(op)) return false;
        advance();
        return true;
    }
    bool skipName(const char* name) {
        if (!isName(name)) return false;
        advance();
        return true;
    }
    static std::string describe(const Token& t) {
        switch (t.type) {
        case TokenType::Text: return "template text";
        case TokenType::VariableBegin: return "'{{'";
        case TokenType::VariableEnd: return "'}}'";
        case TokenType::BlockBegin: return "'{%'";
        case TokenType::BlockEnd: return "'%}'";
        case TokenType::Name: return "'" + t.value + "'";
        case TokenType::Integer:
        case TokenType::Float: return "number " + t.value;
        case TokenType::String: return "a string";
        case TokenType::Operator: return "'" + t.value + "'";
        case TokenType::End: return "the end of the template";
        }
        return "a token";
    }
    [[noreturn]] void fail(const Token& at, const std::string& construct, const std::string& message) const {
        throw ChatTemplateError(name_, at.line, at.column, construct, message, false);
    }
    void expectOperator(const char* op, const std::string& construct) {
        if (!skipOperator(op)) fail(current(), construct, std::string("expected '") + op + "', found " + describe(current()));
    }
    std::string expectName(const std::string& construct) {
        if (current().type != TokenType::Name) fail(current(), construct, "expected a name, found " + describe(current()));
        return advance().value;
    }
    void expectBlockEnd(const std::string& construct) {
        if (current().type != TokenType::BlockEnd)
            fail(current(), construct, "expected '%}' to end the '" + construct + "' tag, found " + describe(current()));
        advance();
    }
    static Position at(const Token& t) { return Position{t.line, t.column}; }

    struct DepthGuard {
        DepthGuard(Parser& p, const Token& t, const char* construct) : parser(p) {
            if (++parser.depth_ > parser.maxDepth_)
                parser.fail(t, construct, "nested more than " + std::to_string(parser.maxDepth_) + " levels deep");
        }
        ~DepthGuard() { --parser.depth_; }
        Parser& parser;
    };

    // ---- statements ---------------------------------------------------------------------------
    // Parses until a block tag whose name is in `ends` (left unconsumed after '{%'); endTag gets it.
    Body parseBody(const std::set<std::string>& ends, std::string& endTag) {
        Body body;
        while (true) {
            const Token& t = current();
            switch (t.type) {
            case TokenType::Text: {
                auto s = std::make_unique<Stmt>();
                s->kind = Stmt::Kind::Text;
                s->position = at(t);
                s->text = t.value;
                body.push_back(std::move(s));
                advance();
                break;
            }
            case TokenType::VariableBegin: {
                advance();
                auto s = std::make_unique<Stmt>();
                s->kind = Stmt::Kind::Output;
                s->position = at(t);
                s->expression = parseTupleOrExpression(true);
                if (current().type != TokenType::VariableEnd)
                    fail(current(), "expression", "expected '}}' to end the expression, found " + describe(current()));
                advance();
                body.push_back(std::move(s));
                break;
            }
            case TokenType::BlockBegin: {
                const Token& nameToken = peek();
                if (nameToken.type == TokenType::Name && ends.count(nameToken.value)) {
                    advance();
                    endTag = advance().value;
                    return body;
                }
                advance();
                body.push_back(parseStatement(t));
                break;
            }
            case TokenType::End:
                if (!ends.empty()) {
                    std::string expected;
                    for (const auto& e : ends) expected += (expected.empty() ? "'" : " or '") + e + "'";
                    fail(t, openConstruct_.empty() ? "block" : openConstruct_,
                         "the template ends inside a block: expected " + expected +
                             (openLine_ ? " (the block opened on line " + std::to_string(openLine_) + ")" : ""));
                }
                return body;
            default: fail(t, "template", "unexpected " + describe(t));
            }
        }
    }

    Body parseBlockBody(const Token& open, const std::string& construct, const std::set<std::string>& ends,
                        std::string& endTag) {
        DepthGuard guard(*this, open, construct.c_str());
        std::string savedConstruct = openConstruct_;
        int savedLine = openLine_;
        openConstruct_ = construct;
        openLine_ = open.line;
        Body body = parseBody(ends, endTag);
        openConstruct_ = savedConstruct;
        openLine_ = savedLine;
        return body;
    }

    StmtPtr parseStatement(const Token& open) {
        const Token& keyword = current();
        if (keyword.type != TokenType::Name) fail(keyword, "block tag", "expected a statement name after '{%', found " + describe(keyword));
        const std::string word = keyword.value;
        auto s = std::make_unique<Stmt>();
        s->position = at(keyword);
        advance();
        if (word == "if") return parseIf(open, std::move(s));
        if (word == "for") return parseFor(open, std::move(s));
        if (word == "set") return parseSet(open, std::move(s));
        if (word == "macro") return parseMacro(open, std::move(s));
        if (word == "call") return parseCallBlock(open, std::move(s));
        if (word == "filter") {
            s->kind = Stmt::Kind::FilterBlock;
            s->expression = parseFilterChain(nullptr);
            expectBlockEnd("filter");
            std::string end;
            s->body = parseBlockBody(open, "filter", {"endfilter"}, end);
            expectBlockEnd("endfilter");
            return s;
        }
        if (word == "break" || word == "continue") {
            if (loopDepth_ == 0) fail(keyword, word, "'" + word + "' outside a for loop");
            s->kind = word == "break" ? Stmt::Kind::Break : Stmt::Kind::Continue;
            expectBlockEnd(word);
            return s;
        }
        if (word == "generation") {
            s->kind = Stmt::Kind::Generation;
            expectBlockEnd("generation");
            std::string end;
            s->body = parseBlockBody(open, "generation", {"endgeneration"}, end);
            expectBlockEnd("endgeneration");
            return s;
        }
        static const std::set<std::string> unsupported = {"include", "import", "from", "extends", "block", "with", "do", "autoescape", "trans"};
        if (unsupported.count(word))
            fail(keyword, word, "'{% " + word + " %}' is not available in chat templates (transformers does not enable it)");
        fail(keyword, word, "unknown statement '" + word + "'" +
                                (word.rfind("end", 0) == 0 || word == "elif" || word == "else"
                                     ? " here: it closes no open block"
                                     : ""));
    }

    StmtPtr parseIf(const Token& open, StmtPtr s) {
        s->kind = Stmt::Kind::If;
        while (true) {
            s->conditions.push_back(parseTupleOrExpression(false));
            expectBlockEnd("if");
            std::string end;
            s->bodies.push_back(parseBlockBody(open, "if", {"elif", "else", "endif"}, end));
            if (end == "elif") continue;
            if (end == "else") {
                expectBlockEnd("else");
                s->hasElse = true;
                s->elseBody = parseBlockBody(open, "if", {"endif"}, end);
            }
            expectBlockEnd("endif");
            return s;
        }
    }

    StmtPtr parseFor(const Token& open, StmtPtr s) {
        s->kind = Stmt::Kind::For;
        s->targets = parseAssignTargets("for");
        if (!skipName("in")) fail(current(), "for", "expected 'in' after the loop variable, found " + describe(current()));
        s->expression = parseTupleOrExpression(false, /*withCondition=*/false);
        if (skipName("if")) s->condition = parseExpression();
        if (skipName("recursive")) s->recursive = true;
        expectBlockEnd("for");
        ++loopDepth_;
        std::string end;
        s->body = parseBlockBody(open, "for", {"else", "endfor"}, end);
        --loopDepth_;
        if (end == "else") {
            expectBlockEnd("else");
            s->hasElse = true;
            int savedLoops = loopDepth_;
            loopDepth_ = 0; // break/continue in a for's else act on no loop of this one
            s->elseBody = parseBlockBody(open, "for", {"endfor"}, end);
            loopDepth_ = savedLoops;
        }
        expectBlockEnd("endfor");
        return s;
    }

    std::vector<std::string> parseAssignTargets(const std::string& construct) {
        std::vector<std::string> names;
        bool parenthesised = skipOperator("(");
        do {
            names.push_back(expectName(construct));
        } while (skipOperator(","));
        if (parenthesised) expectOperator(")", construct);
        return names;
    }

    StmtPtr parseSet(const Token& open, StmtPtr s) {
        const Token& first = current();
        if (first.type == TokenType::Name && peek().type == TokenType::Operator && peek().value == ".") {
            s->kind = Stmt::Kind::Set;
            s->targets.push_back(advance().value);
            advance();
            s->name = expectName("set");
            s->attributeTarget = true;
            expectOperator("=", "set");
            s->expression = parseTupleOrExpression(false);
            expectBlockEnd("set");
            return s;
        }
        s->targets = parseAssignTargets("set");
        if (skipOperator("=")) {
            s->kind = Stmt::Kind::Set;
            s->expression = parseTupleOrExpression(false);
            expectBlockEnd("set");
            return s;
        }
        if (s->targets.size() != 1) fail(current(), "set", "a block set assigns one name");
        s->kind = Stmt::Kind::SetBlock;
        if (isOperator("|")) s->expression = parseFilterChain(nullptr);
        expectBlockEnd("set");
        std::string end;
        s->body = parseBlockBody(open, "set", {"endset"}, end);
        expectBlockEnd("endset");
        return s;
    }

    void parseParameters(std::vector<MacroParameter>& parameters, const std::string& construct) {
        expectOperator("(", construct);
        while (!isOperator(")")) {
            if (!parameters.empty()) expectOperator(",", construct);
            if (isOperator(")")) break;
            MacroParameter p;
            p.name = expectName(construct);
            if (skipOperator("=")) p.defaultValue = parseExpression();
            else if (!parameters.empty() && parameters.back().defaultValue)
                fail(current(), construct, "a parameter without a default follows one with a default");
            parameters.push_back(std::move(p));
        }
        advance();
    }

    StmtPtr parseMacro(const Token& open, StmtPtr s) {
        s->kind = Stmt::Kind::Macro;
        s->name = expectName("macro");
        parseParameters(s->parameters, "macro");
        expectBlockEnd("macro");
        std::string end;
        int savedLoops = loopDepth_;
        loopDepth_ = 0;
        s->body = parseBlockBody(open, "macro", {"endmacro"}, end);
        loopDepth_ = savedLoops;
        expectBlockEnd("endmacro");
        return s;
    }

    StmtPtr parseCallBlock(const Token& open, StmtPtr s) {
        s->kind = Stmt::Kind::CallBlock;
        if (isOperator("(")) parseParameters(s->parameters, "call");
        s->expression = parseExpression();
        if (s->expression->kind != Expr::Kind::Call) fail(current(), "call", "'{% call %}' needs a macro call, such as name(...)");
        expectBlockEnd("call");
        std::string end;
        int savedLoops = loopDepth_;
        loopDepth_ = 0;
        s->body = parseBlockBody(open, "call", {"endcall"}, end);
        loopDepth_ = savedLoops;
        expectBlockEnd("endcall");
        return s;
    }

    // ---- expressions --------------------------------------------------------------------------
    // Left-leaning chains (a + b + c ..., a.b.c ..., x|f|g ...) are built in loops, not recursion:
    // their height is bounded here so that evaluating and freeing them cannot exhaust the stack.
    ExprPtr sealed(ExprPtr e) {
        int height = 0;
        for (const auto& child : e->items)
            if (child) height = std::max(height, child->height);
        for (const auto& child : e->arguments.positional) height = std::max(height, child->height);
        for (const auto& child : e->arguments.keyword) height = std::max(height, child.second->height);
        e->height = height + 1;
        bool constant = e->kind != Expr::Kind::Name && e->kind != Expr::Kind::Call;
        for (const auto& child : e->items)
            if (child) constant = constant && child->constant;
        for (const auto& child : e->arguments.positional) constant = constant && child->constant;
        for (const auto& child : e->arguments.keyword) constant = constant && child.second->constant;
        e->constant = constant;
        if (e->height > maxDepth_ * 2)
            throw ChatTemplateError(name_, e->position.line, e->position.column, "expression",
                                    "the expression is nested more than " + std::to_string(maxDepth_ * 2) + " levels deep", false);
        return e;
    }

    ExprPtr make(Expr::Kind kind, const Token& t) {
        auto e = std::make_unique<Expr>();
        e->kind = kind;
        e->position = at(t);
        return e;
    }

    // An expression, or a bare tuple "a, b" (as Jinja allows in {{ }}, set and for).
    ExprPtr parseTupleOrExpression(bool /*inOutput*/, bool withCondition = true) {
        const Token& start = current();
        ExprPtr first = withCondition ? parseExpression() : parseOr();
        if (!isOperator(",")) return first;
        auto tuple = make(Expr::Kind::Tuple, start);
        tuple->items.push_back(std::move(first));
        while (skipOperator(",")) {
            if (current().type == TokenType::BlockEnd || current().type == TokenType::VariableEnd || isOperator(")")) break;
            tuple->items.push_back(withCondition ? parseExpression() : parseOr());
        }
        return sealed(std::move(tuple));
    }

    ExprPtr parseExpression() {
        DepthGuard guard(*this, current(), "expression");
        ExprPtr node = parseOr();
        while (isName("if")) {
            const Token& t = advance();
            auto conditional = make(Expr::Kind::Conditional, t);
            ExprPtr condition = parseOr();
            ExprPtr otherwise;
            if (skipName("else")) otherwise = parseExpression();
            conditional->items.push_back(std::move(condition));
            conditional->items.push_back(std::move(node));
            conditional->items.push_back(std::move(otherwise));
            node = sealed(std::move(conditional));
        }
        return node;
    }

    ExprPtr parseOr() {
        ExprPtr left = parseAnd();
        while (isName("or")) {
            auto e = make(Expr::Kind::Or, advance());
            e->items.push_back(std::move(left));
            e->items.push_back(parseAnd());
            left = sealed(std::move(e));
        }
        return left;
    }

    ExprPtr parseAnd() {
        ExprPtr left = parseNot();
        while (isName("and")) {
            auto e = make(Expr::Kind::And, advance());
            e->items.push_back(std::move(left));
            e->items.push_back(parseNot());
            left = sealed(std::move(e));
        }
        return left;
    }

    ExprPtr parseNot() {
        if (isName("not")) {
            DepthGuard guard(*this, current(), "not");
            auto e = make(Expr::Kind::Not, advance());
            e->items.push_back(parseNot());
            return sealed(std::move(e));
        }
        return parseCompare();
    }

    ExprPtr parseCompare() {
        const Token& start = current();
        ExprPtr first = parseMath1();
        ExprPtr compare;
        while (true) {
            std::string op;
            const Token& t = current();
            if (t.type == TokenType::Operator &&
                (t.value == "==" || t.value == "!=" || t.value == "<" || t.value == "<=" || t.value == ">" || t.value == ">=")) {
                op = t.value;
                advance();
            } else if (isName("in")) {
                op = "in";
                advance();
            } else if (isName("not") && peek().type == TokenType::Name && peek().value == "in") {
                op = "notin";
                advance();
                advance();
            } else {
                break;
            }
            if (!compare) {
                compare = make(Expr::Kind::Compare, start);
                compare->items.push_back(std::move(first));
            }
            compare->operators.push_back(op);
            compare->items.push_back(parseMath1());
        }
        return compare ? sealed(std::move(compare)) : std::move(first);
    }

    ExprPtr binary(const Token& t, const std::string& op, ExprPtr left, ExprPtr right) {
        auto e = make(Expr::Kind::Binary, t);
        e->name = op;
        e->items.push_back(std::move(left));
        e->items.push_back(std::move(right));
        return sealed(std::move(e));
    }

    ExprPtr parseMath1() {
        ExprPtr left = parseConcat();
        while (isOperator("+") || isOperator("-")) {
            const Token& t = advance();
            left = binary(t, t.value, std::move(left), parseConcat());
        }
        return left;
    }

    ExprPtr parseConcat() {
        ExprPtr left = parseMath2();
        while (isOperator("~")) {
            const Token& t = advance();
            left = binary(t, "~", std::move(left), parseMath2());
        }
        return left;
    }

    ExprPtr parseMath2() {
        ExprPtr left = parsePow();
        while (isOperator("*") || isOperator("/") || isOperator("//") || isOperator("%")) {
            const Token& t = advance();
            left = binary(t, t.value, std::move(left), parsePow());
        }
        return left;
    }

    ExprPtr parsePow() {
        ExprPtr left = parseUnary(true);
        while (isOperator("**")) {
            const Token& t = advance();
            left = binary(t, "**", std::move(left), parseUnary(true));
        }
        return left;
    }

    ExprPtr parseUnary(bool withFilter) {
        DepthGuard guard(*this, current(), "expression");
        ExprPtr node;
        if (isOperator("-") || isOperator("+")) {
            const Token& t = advance();
            node = make(t.value == "-" ? Expr::Kind::Negate : Expr::Kind::Plus, t);
            node->items.push_back(parseUnary(false));
            node = sealed(std::move(node));
        } else {
            node = parsePrimary();
        }
        node = parsePostfix(std::move(node));
        if (withFilter) node = parseFilterExpression(std::move(node));
        return node;
    }

    ExprPtr parsePrimary() {
        const Token& t = current();
        switch (t.type) {
        case TokenType::Name: {
            advance();
            if (t.value == "true" || t.value == "True") return literal(t, Value::from(true));
            if (t.value == "false" || t.value == "False") return literal(t, Value::from(false));
            if (t.value == "none" || t.value == "None") return literal(t, Value::none());
            auto e = make(Expr::Kind::Name, t);
            e->name = t.value;
            return e;
        }
        case TokenType::String: {
            std::string text = advance().value;
            while (current().type == TokenType::String) text += advance().value; // "a" "b" joins
            return literal(t, Value::from(std::move(text)));
        }
        case TokenType::Integer: {
            advance();
            errno = 0;
            long long v = std::strtoll(t.value.c_str(), nullptr, 10);
            if (errno == ERANGE) return literal(t, Value::from(std::strtod(t.value.c_str(), nullptr)));
            return literal(t, Value::from(static_cast<std::int64_t>(v)));
        }
        case TokenType::Float: advance(); return literal(t, Value::from(std::strtod(t.value.c_str(), nullptr)));
        case TokenType::Operator:
            if (t.value == "(") {
                advance();
                if (skipOperator(")")) return make(Expr::Kind::Tuple, t);
                ExprPtr first = parseExpression();
                if (isOperator(",")) {
                    auto tuple = make(Expr::Kind::Tuple, t);
                    tuple->items.push_back(std::move(first));
                    while (skipOperator(",")) {
                        if (isOperator(")")) break;
                        tuple->items.push_back(parseExpression());
                    }
                    first = sealed(std::move(tuple));
                }
                expectOperator(")", "expression");
                return first;
            }
            if (t.value == "[") {
                advance();
                auto list = make(Expr::Kind::List, t);
                while (!isOperator("]")) {
                    if (!list->items.empty()) expectOperator(",", "list literal");
                    if (isOperator("]")) break;
                    list->items.push_back(parseExpression());
                }
                advance();
                return sealed(std::move(list));
            }
            if (t.value == "{") {
                advance();
                auto dict = make(Expr::Kind::Dict, t);
                while (!isOperator("}")) {
                    if (!dict->items.empty()) expectOperator(",", "dict literal");
                    if (isOperator("}")) break;
                    dict->items.push_back(parseExpression());
                    expectOperator(":", "dict literal");
                    dict->items.push_back(parseExpression());
                }
                advance();
                return sealed(std::move(dict));
            }
            break;
        default: break;
        }
        fail(t, "expression", "expected a value, found " + describe(t));
    }

    ExprPtr literal(const Token& t, Value v) {
        auto e = make(Expr::Kind::Literal, t);
        e->constant = true;
        e->literal = std::move(v);
        return e;
    }

    ExprPtr parsePostfix(ExprPtr node) {
        while (true) {
            if (isOperator(".")) {
                const Token& dot = advance();
                const Token& t = current();
                if (t.type == TokenType::Name) {
                    auto e = make(Expr::Kind::GetAttr, dot);
                    e->name = advance().value;
                    e->items.push_back(std::move(node));
                    node = sealed(std::move(e));
                } else if (t.type == TokenType::Integer) {
                    auto e = make(Expr::Kind::GetItem, dot);
                    e->items.push_back(std::move(node));
                    e->items.push_back(literal(t, Value::from(static_cast<std::int64_t>(std::strtoll(t.value.c_str(), nullptr, 10)))));
                    advance();
                    node = sealed(std::move(e));
                } else {
                    fail(t, "attribute access", "expected an attribute name after '.', found " + describe(t));
                }
            } else if (isOperator("[")) {
                node = parseSubscript(std::move(node));
            } else if (isOperator("(")) {
                node = parseCall(std::move(node));
            } else {
                return node;
            }
        }
    }

    ExprPtr parseSubscript(ExprPtr node) {
        const Token& open = advance();
        DepthGuard guard(*this, open, "subscript");
        // Slice parts: [start]:[stop][:[step]]
        ExprPtr parts[3];
        bool isSlice = false;
        if (!isOperator(":")) parts[0] = parseExpression();
        if (skipOperator(":")) {
            isSlice = true;
            if (!isOperator("]") && !isOperator(":")) parts[1] = parseExpression();
            if (skipOperator(":") && !isOperator("]")) parts[2] = parseExpression();
        }
        expectOperator("]", "subscript");
        auto e = make(isSlice ? Expr::Kind::Slice : Expr::Kind::GetItem, open);
        e->items.push_back(std::move(node));
        if (isSlice) {
            for (auto& p : parts) e->items.push_back(std::move(p));
        } else {
            e->items.push_back(std::move(parts[0]));
        }
        return sealed(std::move(e));
    }

    void parseArguments(Arguments& arguments, const std::string& construct) {
        expectOperator("(", construct);
        bool first = true;
        while (!isOperator(")")) {
            if (!first) expectOperator(",", construct);
            first = false;
            if (isOperator(")")) break;
            if (current().type == TokenType::Name && peek().type == TokenType::Operator && peek().value == "=") {
                std::string key = advance().value;
                advance();
                arguments.keyword.emplace_back(key, parseExpression());
            } else {
                if (!arguments.keyword.empty()) fail(current(), construct, "a positional argument follows a keyword argument");
                arguments.positional.push_back(parseExpression());
            }
        }
        advance();
    }

    ExprPtr parseCall(ExprPtr node) {
        DepthGuard guard(*this, current(), "call");
        auto e = make(Expr::Kind::Call, current());
        e->position = node->position; // errors of a call point at what is called
        parseArguments(e->arguments, "call");
        e->items.push_back(std::move(node));
        return sealed(std::move(e));
    }

    ExprPtr parseFilterExpression(ExprPtr node) {
        while (true) {
            if (isOperator("|")) {
                node = parseFilter(std::move(node));
            } else if (isName("is")) {
                node = parseTest(std::move(node));
            } else if (isOperator("(")) {
                node = parseCall(std::move(node));
            } else {
                return node;
            }
        }
    }

    std::string dottedName(const std::string& construct) {
        std::string name = expectName(construct);
        while (isOperator(".") && peek().type == TokenType::Name) {
            advance();
            name += "." + advance().value;
        }
        return name;
    }

    ExprPtr parseFilter(ExprPtr node) {
        const Token& bar = advance();
        DepthGuard guard(*this, bar, "filter");
        auto e = make(Expr::Kind::Filter, current());
        e->name = dottedName("filter");
        if (isOperator("(")) parseArguments(e->arguments, "filter '" + e->name + "'");
        e->items.push_back(std::move(node));
        return sealed(std::move(e));
    }

    // For {% filter a|b %} and {% set x | a %}: a chain whose innermost input is the block's text.
    ExprPtr parseFilterChain(ExprPtr input) {
        if (!isOperator("|")) {
            auto e = make(Expr::Kind::Filter, current());
            e->name = dottedName("filter");
            if (isOperator("(")) parseArguments(e->arguments, "filter '" + e->name + "'");
            e->items.push_back(std::move(input));
            input = sealed(std::move(e));
        }
        while (isOperator("|")) input = parseFilter(std::move(input));
        return input;
    }

    ExprPtr parseTest(ExprPtr node) {
        const Token& is = advance();
        DepthGuard guard(*this, is, "test");
        auto e = make(Expr::Kind::Test, is);
        e->negated = skipName("not");
        e->name = dottedName("test");
        const Token& t = current();
        if (isOperator("(")) {
            parseArguments(e->arguments, "test '" + e->name + "'");
        } else if ((t.type == TokenType::Name || t.type == TokenType::String || t.type == TokenType::Integer ||
                    t.type == TokenType::Float || isOperator("[") || isOperator("{")) &&
                   !(t.type == TokenType::Name && (t.value == "else" || t.value == "or" || t.value == "and"))) {
            if (isName("is")) fail(t, "test", "tests cannot be chained with 'is'");
            e->arguments.positional.push_back(parsePostfix(parsePrimary()));
        }
        e->items.push_back(std::move(node));
        return sealed(std::move(e));
    }

    std::vector<Token> tokens_;
    std::string name_;
    int maxDepth_;
    std::size_t pos_ = 0;
    int depth_ = 0;
    int loopDepth_ = 0;
    std::string openConstruct_;
    int openLine_ = 0;
};

} // namespace

std::unique_ptr<Template> parseTemplate(const std::string& source, const std::string& name, int maxDepth) {
    auto tmpl = std::make_unique<Template>();
    tmpl->name = name;
    tmpl->source = source;
    Parser parser(tokenize(source, name), name, maxDepth);
    tmpl->body = parser.parseAll();
    return tmpl;
}

} // namespace sp::chat
