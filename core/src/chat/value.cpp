#include "chat/value.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace sp::chat {

const Value* DictData::find(const Value& key) const {
    for (const auto& entry : entries)
        if (equals(entry.first, key)) return &entry.second;
    return nullptr;
}

Value* DictData::find(const Value& key) {
    for (auto& entry : entries)
        if (equals(entry.first, key)) return &entry.second;
    return nullptr;
}

void DictData::set(const Value& key, Value value) {
    if (Value* existing = find(key)) {
        *existing = std::move(value);
        return;
    }
    entries.emplace_back(key, std::move(value));
}

Value Value::undefined(std::string why) {
    Value v;
    v.text = std::move(why);
    return v;
}
Value Value::none() {
    Value v;
    v.kind = Kind::None;
    return v;
}
Value Value::from(bool b) {
    Value v;
    v.kind = Kind::Bool;
    v.boolean = b;
    return v;
}
Value Value::from(std::int64_t i) {
    Value v;
    v.kind = Kind::Int;
    v.integer = i;
    return v;
}
Value Value::from(double d) {
    Value v;
    v.kind = Kind::Float;
    v.number = d;
    return v;
}
Value Value::from(std::string s) {
    Value v;
    v.kind = Kind::String;
    v.text = std::move(s);
    return v;
}
Value Value::makeList(std::vector<Value> items, bool tuple) {
    Value v;
    v.kind = Kind::List;
    v.list = std::make_shared<ListData>();
    v.list->items = std::move(items);
    v.list->tuple = tuple;
    return v;
}
Value Value::makeDict() {
    Value v;
    v.kind = Kind::Dict;
    v.dict = std::make_shared<DictData>();
    return v;
}
Value Value::makeObject() {
    Value v = makeDict();
    v.dict->object = true;
    return v;
}
Value Value::makeCallable(std::string name, Callable function) {
    Value v;
    v.kind = Kind::Callable;
    v.callable = std::make_shared<CallableData>();
    v.callable->name = std::move(name);
    v.callable->function = std::move(function);
    return v;
}

bool truthy(const Value& v) {
    switch (v.kind) {
    case Value::Kind::Undefined:
    case Value::Kind::None: return false;
    case Value::Kind::Bool: return v.boolean;
    case Value::Kind::Int: return v.integer != 0;
    case Value::Kind::Float: return v.number != 0.0;
    case Value::Kind::String: return !v.text.empty();
    case Value::Kind::List: return !v.list->items.empty();
    case Value::Kind::Dict: return v.dict->object || !v.dict->entries.empty();
    case Value::Kind::Callable: return true;
    }
    return false;
}

std::string typeName(const Value& v) {
    switch (v.kind) {
    case Value::Kind::Undefined: return "Undefined";
    case Value::Kind::None: return "NoneType";
    case Value::Kind::Bool: return "bool";
    case Value::Kind::Int: return "int";
    case Value::Kind::Float: return "float";
    case Value::Kind::String: return "str";
    case Value::Kind::List: return v.list->tuple ? "tuple" : "list";
    case Value::Kind::Dict: return v.dict->object ? "Namespace" : "dict";
    case Value::Kind::Callable: return "function";
    }
    return "object";
}

std::string formatFloat(double d) {
    if (std::isnan(d)) return "nan";
    if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
    if (d == 0.0) return std::signbit(d) ? "-0.0" : "0.0";
    // Shortest representation that reads back to the same double (Python's repr).
    char digits[64];
    int precision = 1;
    for (; precision <= 17; ++precision) {
        std::snprintf(digits, sizeof digits, "%.*e", precision - 1, d);
        if (std::strtod(digits, nullptr) == d) break;
    }
    // digits is "[-]D.DDDDe[+-]XX"; take the mantissa digits and the exponent.
    std::string s(digits);
    bool negative = s[0] == '-';
    if (negative) s.erase(0, 1);
    std::size_t e = s.find('e');
    int exponent = std::atoi(s.c_str() + e + 1);
    std::string mantissa;
    for (std::size_t i = 0; i < e; ++i)
        if (s[i] != '.') mantissa += s[i];
    while (mantissa.size() > 1 && mantissa.back() == '0') mantissa.pop_back();
    std::string out;
    if (exponent < -4 || exponent >= 16) {
        out = mantissa.substr(0, 1);
        if (mantissa.size() > 1) out += "." + mantissa.substr(1);
        char exp[16];
        std::snprintf(exp, sizeof exp, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
        out += exp;
    } else if (exponent < 0) {
        out = "0." + std::string(static_cast<std::size_t>(-exponent - 1), '0') + mantissa;
    } else {
        std::size_t intDigits = static_cast<std::size_t>(exponent) + 1;
        if (mantissa.size() <= intDigits) {
            out = mantissa + std::string(intDigits - mantissa.size(), '0') + ".0";
        } else {
            out = mantissa.substr(0, intDigits) + "." + mantissa.substr(intDigits);
        }
    }
    return negative ? "-" + out : out;
}

static std::string reprString(const std::string& s) {
    bool hasSingle = s.find('\'') != std::string::npos;
    bool hasDouble = s.find('"') != std::string::npos;
    char quote = (hasSingle && !hasDouble) ? '"' : '\'';
    std::string out(1, quote);
    for (unsigned char c : s) {
        if (c == static_cast<unsigned char>(quote) || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c < 0x20 || c == 0x7f) {
            char buffer[8];
            std::snprintf(buffer, sizeof buffer, "\\x%02x", c);
            out += buffer;
        } else {
            out += static_cast<char>(c);
        }
    }
    out += quote;
    return out;
}

std::string repr(const Value& v) {
    switch (v.kind) {
    case Value::Kind::String: return reprString(v.text);
    case Value::Kind::List: {
        std::string out = v.list->tuple ? "(" : "[";
        for (std::size_t i = 0; i < v.list->items.size(); ++i) {
            if (i) out += ", ";
            out += repr(v.list->items[i]);
        }
        if (v.list->tuple && v.list->items.size() == 1) out += ",";
        out += v.list->tuple ? ")" : "]";
        return out;
    }
    case Value::Kind::Dict: {
        if (v.dict->object) return "<Namespace>";
        std::string out = "{";
        bool first = true;
        for (const auto& [key, value] : v.dict->entries) {
            if (!first) out += ", ";
            first = false;
            out += repr(key) + ": " + repr(value);
        }
        return out + "}";
    }
    case Value::Kind::Undefined: return "Undefined";
    default: return toStr(v);
    }
}

std::string toStr(const Value& v) {
    switch (v.kind) {
    case Value::Kind::Undefined: return "";
    case Value::Kind::None: return "None";
    case Value::Kind::Bool: return v.boolean ? "True" : "False";
    case Value::Kind::Int: return std::to_string(v.integer);
    case Value::Kind::Float: return formatFloat(v.number);
    case Value::Kind::String: return v.text;
    case Value::Kind::List:
    case Value::Kind::Dict: return repr(v);
    case Value::Kind::Callable: return "<function " + v.callable->name + ">";
    }
    return "";
}

double toDouble(const Value& v) {
    switch (v.kind) {
    case Value::Kind::Bool: return v.boolean ? 1.0 : 0.0;
    case Value::Kind::Int: return static_cast<double>(v.integer);
    case Value::Kind::Float: return v.number;
    default: throw ValueError{"expected a number, got " + typeName(v)};
    }
}

bool equals(const Value& a, const Value& b) {
    if (a.isNumber() && b.isNumber()) {
        if (a.kind != Value::Kind::Float && b.kind != Value::Kind::Float)
            return toDouble(a) == toDouble(b) &&
                   (a.kind == Value::Kind::Bool ? (a.boolean ? 1 : 0) : a.integer) ==
                       (b.kind == Value::Kind::Bool ? (b.boolean ? 1 : 0) : b.integer);
        return toDouble(a) == toDouble(b);
    }
    if (a.kind != b.kind) return false;
    switch (a.kind) {
    case Value::Kind::Undefined:
    case Value::Kind::None: return true;
    case Value::Kind::String: return a.text == b.text;
    case Value::Kind::List: {
        if (a.list == b.list) return true;
        if (a.list->items.size() != b.list->items.size() || a.list->tuple != b.list->tuple) return false;
        for (std::size_t i = 0; i < a.list->items.size(); ++i)
            if (!equals(a.list->items[i], b.list->items[i])) return false;
        return true;
    }
    case Value::Kind::Dict: {
        if (a.dict == b.dict) return true;
        if (a.dict->object || b.dict->object) return false;
        if (a.dict->entries.size() != b.dict->entries.size()) return false;
        for (const auto& [key, value] : a.dict->entries) {
            const Value* other = b.dict->find(key);
            if (!other || !equals(value, *other)) return false;
        }
        return true;
    }
    case Value::Kind::Callable: return a.callable == b.callable;
    default: return false;
    }
}

int compare(const Value& a, const Value& b) {
    if (a.isNumber() && b.isNumber()) {
        if (a.kind == Value::Kind::Int && b.kind == Value::Kind::Int)
            return a.integer < b.integer ? -1 : (a.integer > b.integer ? 1 : 0);
        double x = toDouble(a), y = toDouble(b);
        return x < y ? -1 : (x > y ? 1 : 0);
    }
    if (a.isString() && b.isString()) {
        int c = a.text.compare(b.text); // UTF-8 byte order equals code point order
        return c < 0 ? -1 : (c > 0 ? 1 : 0);
    }
    if (a.isList() && b.isList() && a.list->tuple == b.list->tuple) {
        std::size_t n = std::min(a.list->items.size(), b.list->items.size());
        for (std::size_t i = 0; i < n; ++i) {
            if (equals(a.list->items[i], b.list->items[i])) continue;
            return compare(a.list->items[i], b.list->items[i]);
        }
        return a.list->items.size() < b.list->items.size() ? -1
               : (a.list->items.size() > b.list->items.size() ? 1 : 0);
    }
    throw ValueError{"'<' not supported between instances of '" + typeName(a) + "' and '" + typeName(b) + "'"};
}

std::vector<std::string> codePoints(const std::string& s) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < s.size();) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        std::size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
        if (i + n > s.size()) n = s.size() - i;
        out.push_back(s.substr(i, n));
        i += n;
    }
    return out;
}

std::size_t codePointCount(const std::string& s) {
    std::size_t count = 0;
    for (unsigned char c : s)
        if ((c & 0xC0) != 0x80) ++count;
    return count;
}

std::vector<Value> iterate(const Value& v) {
    switch (v.kind) {
    case Value::Kind::Undefined: return {};
    case Value::Kind::List: return v.list->items;
    case Value::Kind::Dict: {
        if (v.dict->object) break;
        std::vector<Value> keys;
        keys.reserve(v.dict->entries.size());
        for (const auto& entry : v.dict->entries) keys.push_back(entry.first);
        return keys;
    }
    case Value::Kind::String: {
        std::vector<Value> chars;
        for (auto& c : codePoints(v.text)) chars.push_back(Value::from(std::move(c)));
        return chars;
    }
    default: break;
    }
    throw ValueError{"'" + typeName(v) + "' object is not iterable"};
}

std::size_t length(const Value& v) {
    switch (v.kind) {
    case Value::Kind::Undefined: return 0;
    case Value::Kind::String: return codePointCount(v.text);
    case Value::Kind::List: return v.list->items.size();
    case Value::Kind::Dict:
        if (!v.dict->object) return v.dict->entries.size();
        break;
    default: break;
    }
    throw ValueError{"object of type '" + typeName(v) + "' has no len()"};
}

} // namespace sp::chat
