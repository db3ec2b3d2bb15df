#pragma once
// transformers' tojson filter: Python's json.dumps(x, ensure_ascii=False, indent=..., separators=...,
// sort_keys=...), byte for byte (Jinja's own tojson, which escapes HTML characters, is replaced).
// Also the conversion of JSON input (messages, tools) into template values.
#include "chat/value.h"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

namespace sp::chat {

struct JsonDumpOptions {
    std::optional<std::string> indent; // null: one line
    std::optional<std::string> itemSeparator;
    std::optional<std::string> keySeparator;
    bool sortKeys = false;
    bool ensureAscii = false;
};

// Throws ValueError for values JSON cannot hold (Undefined, callables, namespaces).
std::string dumpJson(const Value& value, const JsonDumpOptions& options, std::size_t maxBytes);

Value valueFromJson(const nlohmann::ordered_json& json);

} // namespace sp::chat
