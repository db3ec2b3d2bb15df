#pragma once
// Jinja's filters, tests and globals, and the Python methods templates call on strings, lists and
// dicts (startswith, split, items, get, ...), as transformers' sandboxed environment offers them.
#include "chat/value.h"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sp::chat {

struct CallArgs {
    std::vector<Value> positional;
    std::vector<std::pair<std::string, Value>> keyword;

    // The argument at `index`, or the keyword `name`; null when neither was given.
    const Value* get(std::size_t index, const char* name) const;
    // Fails when more positional arguments than `count` were given, or an unknown keyword.
    void allow(std::size_t count, std::initializer_list<const char*> names, const std::string& what) const;
};

// raise_exception(message) from the template: reaches the user as the template's own words.
struct TemplateRaised {
    std::string message;
};

// Limits shared by builtins (string sizes, range lengths).
struct BuiltinLimits {
    std::size_t maxStringBytes = 64u << 20;
    std::int64_t maxRange = 100000;
    std::optional<std::int64_t> nowUnixSeconds;
};

// Lookups as Jinja's sandboxed environment does them. Undefined results carry Jinja's hint.
Value getAttribute(const Value& object, const std::string& name); // x.name
Value getItem(const Value& object, const Value& key);             // x[key]
Value getSlice(const Value& object, const Value& start, const Value& stop, const Value& step);

bool hasFilter(const std::string& name);
bool hasTest(const std::string& name);
Value applyFilter(const std::string& name, const Value& input, CallArgs& args, const BuiltinLimits& limits);
bool applyTest(const std::string& name, const Value& input, CallArgs& args);

// The globals: range, namespace, dict, raise_exception, strftime_now, cycler, joiner.
std::vector<std::pair<std::string, Value>> makeGlobals(const BuiltinLimits& limits);

// Python's whitespace / case helpers, shared with the filters.
std::string pyStrip(const std::string& s, const Value* chars, bool left, bool right);
std::string pyLower(const std::string& s);
std::string pyUpper(const std::string& s);

} // namespace sp::chat
