#include "chat/tojson.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace sp::chat {
namespace {

void appendJsonString(std::string& out, const std::string& s, bool ensureAscii) {
    out += '"';
    for (std::size_t i = 0; i < s.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default:
            if (c < 0x20) {
                char buffer[8];
                std::snprintf(buffer, sizeof buffer, "\\u%04x", c);
                out += buffer;
            } else if (c >= 0x80 && ensureAscii) {
                // Decode one UTF-8 sequence and write \uXXXX (surrogate pairs above the BMP).
                unsigned long cp = 0;
                std::size_t n = (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
                cp = n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : n == 4 ? (c & 0x07) : c;
                for (std::size_t k = 1; k < n && i + k < s.size(); ++k)
                    cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
                i += n - 1;
                char buffer[32];
                if (cp >= 0x10000) {
                    cp -= 0x10000;
                    std::snprintf(buffer, sizeof buffer, "\\u%04lx\\u%04lx", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF));
                } else {
                    std::snprintf(buffer, sizeof buffer, "\\u%04lx", cp);
                }
                out += buffer;
            } else {
                out += static_cast<char>(c);
            }
        }
    }
    out += '"';
}

std::string floatJson(double d) {
    if (std::isnan(d)) return "NaN";
    if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
    return formatFloat(d);
}

std::string keyJson(const Value& key) {
    switch (key.kind) {
    case Value::Kind::String: return key.text;
    case Value::Kind::Int: return std::to_string(key.integer);
    case Value::Kind::Float: return floatJson(key.number);
    case Value::Kind::Bool: return key.boolean ? "true" : "false";
    case Value::Kind::None: return "null";
    default: throw ValueError{"keys must be str, int, float, bool or None, not " + typeName(key)};
    }
}

class Dumper {
public:
    Dumper(const JsonDumpOptions& options, std::size_t maxBytes) : options_(options), maxBytes_(maxBytes) {
        itemSeparator_ = options.itemSeparator ? *options.itemSeparator : (options.indent ? "," : ", ");
        keySeparator_ = options.keySeparator ? *options.keySeparator : ": ";
    }

    void dump(const Value& v, int level) {
        if (level > 500) throw ValueError{"tojson: the value is nested too deeply"};
        if (out.size() > maxBytes_) throw ValueError{"tojson: the output is larger than the limit"};
        switch (v.kind) {
        case Value::Kind::None: out += "null"; return;
        case Value::Kind::Bool: out += v.boolean ? "true" : "false"; return;
        case Value::Kind::Int: out += std::to_string(v.integer); return;
        case Value::Kind::Float: out += floatJson(v.number); return;
        case Value::Kind::String: appendJsonString(out, v.text, options_.ensureAscii); return;
        case Value::Kind::List: {
            if (v.list->items.empty()) {
                out += "[]";
                return;
            }
            out += '[';
            for (std::size_t i = 0; i < v.list->items.size(); ++i) {
                if (i) out += itemSeparator_;
                newline(level + 1);
                dump(v.list->items[i], level + 1);
            }
            newline(level);
            out += ']';
            return;
        }
        case Value::Kind::Dict: {
            if (v.dict->object) break;
            if (v.dict->entries.empty()) {
                out += "{}";
                return;
            }
            std::vector<std::pair<std::string, const Value*>> entries;
            for (const auto& [key, value] : v.dict->entries) entries.emplace_back(keyJson(key), &value);
            if (options_.sortKeys)
                std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
            out += '{';
            for (std::size_t i = 0; i < entries.size(); ++i) {
                if (i) out += itemSeparator_;
                newline(level + 1);
                appendJsonString(out, entries[i].first, options_.ensureAscii);
                out += keySeparator_;
                dump(*entries[i].second, level + 1);
            }
            newline(level);
            out += '}';
            return;
        }
        default: break;
        }
        throw ValueError{"Object of type " + typeName(v) + " is not JSON serializable"};
    }

    std::string out;

private:
    void newline(int level) {
        if (!options_.indent) return;
        out += '\n';
        for (int i = 0; i < level; ++i) {
            out += *options_.indent;
            if (out.size() > maxBytes_) throw ValueError{"tojson: the output is larger than the limit"};
        }
    }

    const JsonDumpOptions& options_;
    std::size_t maxBytes_;
    std::string itemSeparator_;
    std::string keySeparator_;
};

} // namespace

std::string dumpJson(const Value& value, const JsonDumpOptions& options, std::size_t maxBytes) {
    Dumper dumper(options, maxBytes);
    dumper.dump(value, 0);
    return std::move(dumper.out);
}

Value valueFromJson(const nlohmann::ordered_json& json) {
    switch (json.type()) {
    case nlohmann::ordered_json::value_t::null: return Value::none();
    case nlohmann::ordered_json::value_t::boolean: return Value::from(json.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer: return Value::from(json.get<std::int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
        auto u = json.get<std::uint64_t>();
        if (u > static_cast<std::uint64_t>(INT64_MAX)) return Value::from(static_cast<double>(u));
        return Value::from(static_cast<std::int64_t>(u));
    }
    case nlohmann::ordered_json::value_t::number_float: return Value::from(json.get<double>());
    case nlohmann::ordered_json::value_t::string: return Value::from(json.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
        std::vector<Value> items;
        items.reserve(json.size());
        for (const auto& item : json) items.push_back(valueFromJson(item));
        return Value::makeList(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
        Value dict = Value::makeDict();
        for (auto it = json.begin(); it != json.end(); ++it)
            dict.dict->entries.emplace_back(Value::from(it.key()), valueFromJson(it.value()));
        return dict;
    }
    default: return Value::none();
    }
}

} // namespace sp::chat
