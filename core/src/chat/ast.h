#pragma once
// The syntax tree of a chat template: expressions and statements, each with its source position.
#include "chat/value.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace sp::chat {

struct Expr;
struct Stmt;
using ExprPtr = std::unique_ptr<Expr>;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct Position {
    int line = 0;
    int column = 0;
};

struct Arguments {
    std::vector<ExprPtr> positional;
    std::vector<std::pair<std::string, ExprPtr>> keyword;
};

struct Expr {
    enum class Kind {
        Literal,   // literal
        Name,      // name
        List,      // items
        Tuple,     // items
        Dict,      // items: key, value, key, value, ...
        GetAttr,   // items[0] . name
        GetItem,   // items[0] [ items[1] ]
        Slice,     // items[0] [ items[1] : items[2] : items[3] ] (null parts are omitted)
        Call,      // items[0] ( arguments )
        Filter,    // items[0] | name ( arguments ); items[0] is null in a filter block
        Test,      // items[0] is [not] name ( arguments )
        Negate,    // - items[0]
        Plus,      // + items[0]
        Binary,    // items[0] op items[1]: + - * / // % ** ~
        Compare,   // items[0] ops[0] items[1] ops[1] items[2] ...: == != < <= > >= in notin
        And,
        Or,
        Not,
        Conditional, // items[1] if items[0] else items[2] (items[2] may be null)
    };
    Kind kind;
    Position position;
    Value literal;
    std::string name; // Name, GetAttr, Filter, Test; Binary's operator
    std::vector<ExprPtr> items;
    std::vector<std::string> operators; // Compare
    Arguments arguments;               // Call, Filter, Test
    bool negated = false;              // Test
    int height = 1;                    // longest path to a leaf (bounds evaluation recursion)
    bool constant = false;             // no variables or calls below: Jinja folds it at compile time
};

struct MacroParameter {
    std::string name;
    ExprPtr defaultValue; // null: required
};

struct Stmt {
    enum class Kind {
        Text,       // text
        Output,     // {{ expression }}
        If,         // conditions[i] -> bodies[i]; elseBody
        For,        // for targets in expression [if condition] [recursive]: body [else elseBody]
        Set,        // set targets (or namespace attribute) = expression
        SetBlock,   // set target [| filters]: body
        Macro,      // macro name(parameters): body
        CallBlock,  // call[(parameters)] expression: body
        FilterBlock,// filter chain: body
        Break,
        Continue,
        Generation, // transformers' {% generation %}: renders its body
    };
    Kind kind;
    Position position;
    std::string text;
    std::string name;                 // Macro name; Set: namespace attribute name when attribute
    std::vector<std::string> targets; // For, Set, SetBlock
    bool attributeTarget = false;     // Set: targets[0].name = ...
    ExprPtr expression;               // Output, For iterable, Set value, CallBlock call, filters
    ExprPtr condition;                // For filter
    bool recursive = false;
    std::vector<ExprPtr> conditions;  // If
    std::vector<Body> bodies;         // If
    Body body;
    Body elseBody;
    bool hasElse = false;
    std::vector<MacroParameter> parameters; // Macro, CallBlock
};

struct Template {
    std::string name;
    std::string source;
    Body body;
};

} // namespace sp::chat
