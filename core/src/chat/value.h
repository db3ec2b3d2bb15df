#pragma once
// The values a chat template computes with: Python's types as Jinja sees them (None, bool, int,
// float, str, list/tuple, dict, callables) plus Jinja's Undefined. Strings are UTF-8; length,
// indexing and slicing count code points, as Python does.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace sp::chat {

struct Value;
struct CallArgs;
using Callable = std::function<Value(CallArgs&)>;

struct ListData {
    std::vector<Value> items;
    bool tuple = false;
};

struct DictData {
    std::vector<std::pair<Value, Value>> entries; // insertion order, as Python's dict
    bool object = false; // a namespace or loop object: attributes only, repr as <object>
    const Value* find(const Value& key) const;
    Value* find(const Value& key);
    void set(const Value& key, Value value);
};

struct CallableData {
    std::string name;
    Callable function;
};

struct Value {
    enum class Kind { Undefined, None, Bool, Int, Float, String, List, Dict, Callable };
    Kind kind = Kind::Undefined;
    bool boolean = false;
    std::int64_t integer = 0;
    double number = 0.0;
    std::string text; // String; for Undefined, why it is undefined ("'x' is undefined")
    std::shared_ptr<ListData> list;
    std::shared_ptr<DictData> dict;
    std::shared_ptr<CallableData> callable;

    static Value undefined(std::string why = {});
    static Value none();
    static Value from(bool b);
    static Value from(std::int64_t i);
    static Value from(int i) { return from(static_cast<std::int64_t>(i)); }
    static Value from(double d);
    static Value from(std::string s);
    static Value from(const char* s) { return from(std::string(s)); }
    static Value makeList(std::vector<Value> items = {}, bool tuple = false);
    static Value makeDict();
    static Value makeObject();
    static Value makeCallable(std::string name, Callable function);

    bool isUndefined() const { return kind == Kind::Undefined; }
    bool isNone() const { return kind == Kind::None; }
    bool isString() const { return kind == Kind::String; }
    bool isNumber() const { return kind == Kind::Int || kind == Kind::Float || kind == Kind::Bool; }
    bool isList() const { return kind == Kind::List; }
    bool isDict() const { return kind == Kind::Dict; }
    bool isObject() const { return kind == Kind::Dict && dict->object; }
    bool isMapping() const { return kind == Kind::Dict && !dict->object; }
    bool isCallable() const { return kind == Kind::Callable; }
};

// Errors raised by operations on values; the evaluator adds the position and construct.
struct ValueError {
    std::string message;
};

bool truthy(const Value& v);
std::string typeName(const Value& v);       // Python's type name: 'str', 'int', 'dict', ...
std::string toStr(const Value& v);          // str(v); Undefined renders as ""
std::string repr(const Value& v);           // repr(v)
std::string formatFloat(double d);          // Python's repr of a float
bool equals(const Value& a, const Value& b);
int compare(const Value& a, const Value& b); // <0, 0, >0; throws ValueError when unordered
double toDouble(const Value& v);

// UTF-8 helpers (Python counts code points).
std::vector<std::string> codePoints(const std::string& s);
std::size_t codePointCount(const std::string& s);

// Iterating: a list's items, a dict's keys, a string's characters; Undefined is empty.
std::vector<Value> iterate(const Value& v);
std::size_t length(const Value& v);

} // namespace sp::chat
