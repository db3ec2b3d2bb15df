#include "chat/builtins.h"

#include "chat/tojson.h"

#include <utf8proc.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <map>
#include <set>

namespace sp::chat {

// ---- arguments ----------------------------------------------------------------------------------
const Value* CallArgs::get(std::size_t index, const char* name) const {
    if (index < positional.size()) return &positional[index];
    if (name)
        for (const auto& [key, value] : keyword)
            if (key == name) return &value;
    return nullptr;
}

void CallArgs::allow(std::size_t count, std::initializer_list<const char*> names, const std::string& what) const {
    if (positional.size() > count)
        throw ValueError{what + " takes at most " + std::to_string(count) + " argument(s), " +
                         std::to_string(positional.size()) + " given"};
    for (const auto& entry : keyword) {
        bool known = false;
        for (const char* n : names) known = known || entry.first == n;
        if (!known) throw ValueError{what + " got an unexpected keyword argument '" + entry.first + "'"};
    }
}

namespace {

// ---- UTF-8 and Python string semantics ------------------------------------------------------------
std::vector<std::int32_t> decode(const std::string& s) {
    std::vector<std::int32_t> out;
    out.reserve(s.size());
    const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(s.data());
    utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(s.size());
    while (left > 0) {
        utf8proc_int32_t cp = 0;
        utf8proc_ssize_t n = utf8proc_iterate(p, left, &cp);
        if (n <= 0) {
            cp = *p; // invalid byte: keep it as a code point of its own
            n = 1;
        }
        out.push_back(cp);
        p += n;
        left -= n;
    }
    return out;
}

void encodeOne(std::string& out, std::int32_t cp) {
    utf8proc_uint8_t buffer[4];
    utf8proc_ssize_t n = utf8proc_encode_char(cp, buffer);
    if (n <= 0) {
        out += static_cast<char>(cp & 0xFF);
        return;
    }
    out.append(reinterpret_cast<const char*>(buffer), static_cast<std::size_t>(n));
}

std::string encode(const std::vector<std::int32_t>& cps, std::size_t from = 0, std::size_t to = std::string::npos) {
    std::string out;
    to = std::min(to, cps.size());
    for (std::size_t i = from; i < to; ++i) encodeOne(out, cps[i]);
    return out;
}

bool isPyWhitespace(std::int32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

bool isCased(std::int32_t c) {
    return utf8proc_tolower(c) != c || utf8proc_toupper(c) != c || utf8proc_totitle(c) != c;
}

std::string requireString(const Value* v, const std::string& what) {
    if (!v || !v->isString()) throw ValueError{what + " expects a string argument"};
    return v->text;
}

std::int64_t requireInt(const Value& v, const std::string& what) {
    if (v.kind == Value::Kind::Int) return v.integer;
    if (v.kind == Value::Kind::Bool) return v.boolean ? 1 : 0;
    throw ValueError{what + " expects an integer, got " + typeName(v)};
}

void checkSize(std::size_t size, const BuiltinLimits& limits) {
    if (size > limits.maxStringBytes)
        throw ValueError{"the result would be larger than the " + std::to_string(limits.maxStringBytes >> 20) + " MiB limit"};
}

std::string pyTitle(const std::string& s) {
    std::string out;
    bool previousCased = false;
    for (std::int32_t c : decode(s)) {
        if (previousCased) encodeOne(out, utf8proc_tolower(c));
        else encodeOne(out, utf8proc_totitle(c));
        previousCased = isCased(c);
    }
    return out;
}

std::string pyCapitalize(const std::string& s) {
    auto cps = decode(s);
    std::string out;
    for (std::size_t i = 0; i < cps.size(); ++i) encodeOne(out, i == 0 ? utf8proc_totitle(cps[i]) : utf8proc_tolower(cps[i]));
    return out;
}

// Python's str.split(sep=None, maxsplit=-1) and rsplit.
std::vector<std::string> pySplit(const std::string& s, const Value* sepValue, std::int64_t maxSplit, bool fromRight) {
    std::vector<std::string> parts;
    if (!sepValue || sepValue->isNone()) {
        auto cps = decode(s);
        std::vector<std::pair<std::size_t, std::size_t>> words;
        std::size_t i = 0;
        while (i < cps.size()) {
            while (i < cps.size() && isPyWhitespace(cps[i])) ++i;
            if (i >= cps.size()) break;
            std::size_t start = i;
            while (i < cps.size() && !isPyWhitespace(cps[i])) ++i;
            words.emplace_back(start, i);
        }
        if (maxSplit < 0 || static_cast<std::size_t>(maxSplit) + 1 >= words.size()) {
            for (auto& w : words) parts.push_back(encode(cps, w.first, w.second));
            return parts;
        }
        std::size_t keep = static_cast<std::size_t>(maxSplit);
        if (!fromRight) {
            for (std::size_t k = 0; k < keep; ++k) parts.push_back(encode(cps, words[k].first, words[k].second));
            std::size_t end = cps.size();
            while (end > 0 && isPyWhitespace(cps[end - 1])) --end;
            parts.push_back(encode(cps, words[keep].first, end));
        } else {
            std::size_t firstKept = words.size() - keep;
            std::size_t start = 0;
            while (start < cps.size() && isPyWhitespace(cps[start])) ++start;
            parts.push_back(encode(cps, start, words[firstKept - 1].second));
            for (std::size_t k = firstKept; k < words.size(); ++k) parts.push_back(encode(cps, words[k].first, words[k].second));
        }
        return parts;
    }
    std::string sep = requireString(sepValue, "split");
    if (sep.empty()) throw ValueError{"empty separator"};
    if (!fromRight) {
        std::size_t start = 0;
        std::int64_t splits = 0;
        while (maxSplit < 0 || splits < maxSplit) {
            std::size_t at = s.find(sep, start);
            if (at == std::string::npos) break;
            parts.push_back(s.substr(start, at - start));
            start = at + sep.size();
            ++splits;
        }
        parts.push_back(s.substr(start));
    } else {
        std::size_t end = s.size();
        std::int64_t splits = 0;
        std::vector<std::string> reversed;
        while ((maxSplit < 0 || splits < maxSplit) && end >= sep.size()) {
            std::size_t at = s.rfind(sep, end - sep.size());
            if (at == std::string::npos) break;
            reversed.push_back(s.substr(at + sep.size(), end - at - sep.size()));
            end = at;
            ++splits;
        }
        reversed.push_back(s.substr(0, end));
        parts.assign(reversed.rbegin(), reversed.rend());
    }
    return parts;
}

std::string pyReplace(const std::string& s, const std::string& old, const std::string& replacement, std::int64_t count,
                      const BuiltinLimits& limits) {
    std::string out;
    if (old.empty()) {
        auto pieces = codePoints(s);
        std::int64_t done = 0;
        for (std::size_t i = 0; i <= pieces.size(); ++i) {
            if (count < 0 || done < count) {
                out += replacement;
                ++done;
            }
            if (i < pieces.size()) out += pieces[i];
            checkSize(out.size(), limits);
        }
        return out;
    }
    std::size_t start = 0;
    std::int64_t done = 0;
    while (count < 0 || done < count) {
        std::size_t at = s.find(old, start);
        if (at == std::string::npos) break;
        out.append(s, start, at - start);
        out += replacement;
        checkSize(out.size(), limits);
        start = at + old.size();
        ++done;
    }
    out.append(s, start, std::string::npos);
    return out;
}

bool startsOrEndsWith(const std::string& s, const Value* affix, bool starts) {
    auto check = [&](const Value& v) {
        if (!v.isString()) throw ValueError{std::string(starts ? "startswith" : "endswith") + " first arg must be str or a tuple of str, not " + typeName(v)};
        const std::string& a = v.text;
        if (a.size() > s.size()) return false;
        return starts ? s.compare(0, a.size(), a) == 0 : s.compare(s.size() - a.size(), a.size(), a) == 0;
    };
    if (!affix) throw ValueError{std::string(starts ? "startswith" : "endswith") + "() takes at least 1 argument (0 given)"};
    if (affix->isList() && affix->list->tuple) {
        for (const auto& item : affix->list->items)
            if (check(item)) return true;
        return false;
    }
    return check(*affix);
}

Value boundMethod(const std::string& name, Callable f) { return Value::makeCallable(name, std::move(f)); }

std::string typeObjectName(const Value& v) {
    if (v.isNone()) return "None";
    return "'" + typeName(v) + " object'";
}

Value noAttribute(const Value& object, const std::string& name) {
    return Value::undefined(typeObjectName(object) + " has no attribute '" + name + "'");
}

Value stringMethod(const std::string& s, const std::string& name) {
    static const BuiltinLimits defaults;
    if (name == "startswith" || name == "endswith") {
        bool starts = name == "startswith";
        return boundMethod(name, [s, starts, name](CallArgs& a) {
            a.allow(3, {}, name);
            std::string target = s;
            if (a.positional.size() > 1) {
                auto cps = decode(s);
                auto clamp = [&](const Value& v) {
                    if (v.isNone()) return std::int64_t(-1);
                    std::int64_t i = requireInt(v, name);
                    std::int64_t n = static_cast<std::int64_t>(cps.size());
                    if (i < 0) i = std::max<std::int64_t>(0, i + n);
                    return std::min(i, n);
                };
                std::int64_t from = clamp(a.positional[1]);
                std::int64_t to = a.positional.size() > 2 ? clamp(a.positional[2]) : static_cast<std::int64_t>(cps.size());
                if (from < 0) from = 0;
                if (to < 0) to = static_cast<std::int64_t>(cps.size());
                if (from > to) return Value::from(false);
                target = encode(cps, static_cast<std::size_t>(from), static_cast<std::size_t>(to));
            }
            return Value::from(startsOrEndsWith(target, a.get(0, nullptr), starts));
        });
    }
    if (name == "split" || name == "rsplit") {
        bool right = name == "rsplit";
        return boundMethod(name, [s, right, name](CallArgs& a) {
            a.allow(2, {"sep", "maxsplit"}, name);
            const Value* maxSplit = a.get(1, "maxsplit");
            std::vector<Value> items;
            for (auto& part : pySplit(s, a.get(0, "sep"), maxSplit ? requireInt(*maxSplit, name) : -1, right))
                items.push_back(Value::from(std::move(part)));
            return Value::makeList(std::move(items));
        });
    }
    if (name == "strip" || name == "lstrip" || name == "rstrip") {
        bool left = name != "rstrip", right = name != "lstrip";
        return boundMethod(name, [s, left, right, name](CallArgs& a) {
            a.allow(1, {}, name);
            return Value::from(pyStrip(s, a.get(0, nullptr), left, right));
        });
    }
    if (name == "lower" || name == "upper" || name == "title" || name == "capitalize" || name == "swapcase") {
        return boundMethod(name, [s, name](CallArgs& a) {
            a.allow(0, {}, name);
            if (name == "lower") return Value::from(pyLower(s));
            if (name == "upper") return Value::from(pyUpper(s));
            if (name == "title") return Value::from(pyTitle(s));
            if (name == "capitalize") return Value::from(pyCapitalize(s));
            std::string out;
            for (std::int32_t c : decode(s)) encodeOne(out, utf8proc_islower(c) ? utf8proc_toupper(c) : utf8proc_tolower(c));
            return Value::from(out);
        });
    }
    if (name == "replace") {
        return boundMethod(name, [s](CallArgs& a) {
            a.allow(3, {"count"}, "replace");
            const Value* count = a.get(2, "count");
            return Value::from(pyReplace(s, requireString(a.get(0, nullptr), "replace"), requireString(a.get(1, nullptr), "replace"),
                                         count ? requireInt(*count, "replace") : -1, defaults));
        });
    }
    if (name == "find" || name == "rfind" || name == "index" || name == "rindex" || name == "count") {
        return boundMethod(name, [s, name](CallArgs& a) {
            a.allow(1, {}, name);
            std::string needle = requireString(a.get(0, nullptr), name);
            if (name == "count") {
                if (needle.empty()) return Value::from(static_cast<std::int64_t>(codePointCount(s) + 1));
                std::int64_t n = 0;
                for (std::size_t at = s.find(needle); at != std::string::npos; at = s.find(needle, at + needle.size())) ++n;
                return Value::from(n);
            }
            std::size_t at = (name == "find" || name == "index") ? s.find(needle) : s.rfind(needle);
            if (at == std::string::npos) {
                if (name == "index" || name == "rindex") throw ValueError{"substring not found"};
                return Value::from(std::int64_t(-1));
            }
            return Value::from(static_cast<std::int64_t>(codePointCount(s.substr(0, at))));
        });
    }
    if (name == "join") {
        return boundMethod(name, [s](CallArgs& a) {
            a.allow(1, {}, "join");
            const Value* items = a.get(0, nullptr);
            if (!items) throw ValueError{"join() takes exactly one argument (0 given)"};
            std::string out;
            bool first = true;
            for (const auto& item : iterate(*items)) {
                if (!item.isString()) throw ValueError{"sequence item: expected str instance, " + typeName(item) + " found"};
                if (!first) out += s;
                first = false;
                out += item.text;
                checkSize(out.size(), defaults);
            }
            return Value::from(out);
        });
    }
    if (name == "removeprefix" || name == "removesuffix") {
        bool prefix = name == "removeprefix";
        return boundMethod(name, [s, prefix, name](CallArgs& a) {
            a.allow(1, {}, name);
            std::string affix = requireString(a.get(0, nullptr), name);
            if (prefix && s.compare(0, affix.size(), affix) == 0 && affix.size() <= s.size()) return Value::from(s.substr(affix.size()));
            if (!prefix && affix.size() <= s.size() && s.compare(s.size() - affix.size(), affix.size(), affix) == 0)
                return Value::from(s.substr(0, s.size() - affix.size()));
            return Value::from(s);
        });
    }
    if (name == "splitlines") {
        return boundMethod(name, [s](CallArgs& a) {
            a.allow(1, {"keepends"}, "splitlines");
            const Value* keep = a.get(0, "keepends");
            bool keepEnds = keep && truthy(*keep);
            std::vector<Value> lines;
            std::size_t start = 0;
            for (std::size_t i = 0; i < s.size(); ++i) {
                if (s[i] == '\n' || s[i] == '\r') {
                    std::size_t end = i;
                    if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
                    lines.push_back(Value::from(s.substr(start, (keepEnds ? i + 1 : end) - start)));
                    start = i + 1;
                }
            }
            if (start < s.size()) lines.push_back(Value::from(s.substr(start)));
            return Value::makeList(std::move(lines));
        });
    }
    if (name == "isdigit" || name == "isalpha" || name == "isalnum" || name == "isspace" || name == "islower" ||
        name == "isupper" || name == "isnumeric" || name == "isdecimal") {
        return boundMethod(name, [s, name](CallArgs& a) {
            a.allow(0, {}, name);
            auto cps = decode(s);
            if (cps.empty()) return Value::from(false);
            if (name == "islower" || name == "isupper") {
                bool anyCased = false;
                for (auto c : cps) {
                    if (!isCased(c)) continue;
                    anyCased = true;
                    if (name == "islower" ? !utf8proc_islower(c) : !utf8proc_isupper(c)) return Value::from(false);
                }
                return Value::from(anyCased);
            }
            for (auto c : cps) {
                auto category = utf8proc_category(c);
                bool digit = category == UTF8PROC_CATEGORY_ND;
                bool alpha = category >= UTF8PROC_CATEGORY_LU && category <= UTF8PROC_CATEGORY_LO;
                bool ok = name == "isspace" ? isPyWhitespace(c)
                          : name == "isalpha" ? alpha
                          : name == "isalnum" ? (alpha || digit || category == UTF8PROC_CATEGORY_NL || category == UTF8PROC_CATEGORY_NO)
                          : (digit || (name != "isdecimal" && category == UTF8PROC_CATEGORY_NO));
                if (!ok) return Value::from(false);
            }
            return Value::from(true);
        });
    }
    return Value::undefined("'str object' has no attribute '" + name + "'");
}

Value dictMethod(const Value& dict, const std::string& name) {
    if (name == "items" || name == "keys" || name == "values") {
        return boundMethod(name, [dict, name](CallArgs& a) {
            a.allow(0, {}, name);
            std::vector<Value> out;
            for (const auto& [key, value] : dict.dict->entries) {
                if (name == "items") out.push_back(Value::makeList({key, value}, true));
                else out.push_back(name == "keys" ? key : value);
            }
            return Value::makeList(std::move(out));
        });
    }
    if (name == "get") {
        return boundMethod(name, [dict](CallArgs& a) {
            a.allow(2, {}, "get");
            const Value* key = a.get(0, nullptr);
            if (!key) throw ValueError{"get expected at least 1 argument, got 0"};
            if (const Value* found = dict.dict->find(*key)) return *found;
            const Value* fallback = a.get(1, nullptr);
            return fallback ? *fallback : Value::none();
        });
    }
    if (name == "copy") {
        return boundMethod(name, [dict](CallArgs&) {
            Value copy = Value::makeDict();
            copy.dict->entries = dict.dict->entries;
            return copy;
        });
    }
    return {};
}

} // namespace

// ---- shared helpers ---------------------------------------------------------------------------
std::string pyStrip(const std::string& s, const Value* chars, bool left, bool right) {
    auto cps = decode(s);
    std::vector<std::int32_t> set;
    bool whitespace = !chars || chars->isNone();
    if (!whitespace) {
        if (!chars->isString()) throw ValueError{"strip arg must be None or str"};
        set = decode(chars->text);
    }
    auto strippable = [&](std::int32_t c) {
        return whitespace ? isPyWhitespace(c) : std::find(set.begin(), set.end(), c) != set.end();
    };
    std::size_t from = 0, to = cps.size();
    if (left)
        while (from < to && strippable(cps[from])) ++from;
    if (right)
        while (to > from && strippable(cps[to - 1])) --to;
    return encode(cps, from, to);
}

std::string pyLower(const std::string& s) {
    std::string out;
    for (std::int32_t c : decode(s)) encodeOne(out, utf8proc_tolower(c));
    return out;
}

std::string pyUpper(const std::string& s) {
    std::string out;
    for (std::int32_t c : decode(s)) {
        if (c == 0xDF) { // ß: Python's full case mapping
            out += "SS";
            continue;
        }
        encodeOne(out, utf8proc_toupper(c));
    }
    return out;
}

// ---- attribute and item access ----------------------------------------------------------------
Value getAttribute(const Value& object, const std::string& name) {
    switch (object.kind) {
    case Value::Kind::Undefined:
        throw ValueError{object.text.empty() ? "'" + name + "' of an undefined value" : object.text};
    case Value::Kind::Dict: {
        if (object.dict->object) {
            if (const Value* v = object.dict->find(Value::from(name))) return *v;
            return Value::undefined("'" + typeName(object) + " object' has no attribute '" + name + "'");
        }
        Value method = dictMethod(object, name);
        if (method.isCallable()) return method;
        static const std::set<std::string> mutating = {"pop", "popitem", "setdefault", "update", "clear"};
        if (mutating.count(name)) throw ValueError{"access to attribute '" + name + "' of 'dict' object is unsafe."};
        if (const Value* v = object.dict->find(Value::from(name))) return *v;
        return noAttribute(object, name);
    }
    case Value::Kind::String: return stringMethod(object.text, name);
    case Value::Kind::List: {
        static const std::set<std::string> mutating = {"append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear"};
        if (mutating.count(name))
            throw ValueError{"access to attribute '" + name + "' of '" + typeName(object) + "' object is unsafe."};
        if (name == "index" || name == "count") {
            Value list = object;
            return boundMethod(name, [list, name](CallArgs& a) {
                a.allow(1, {}, name);
                const Value* needle = a.get(0, nullptr);
                if (!needle) throw ValueError{name + "() takes exactly one argument"};
                std::int64_t count = 0;
                for (std::size_t i = 0; i < list.list->items.size(); ++i) {
                    if (!equals(list.list->items[i], *needle)) continue;
                    if (name == "index") return Value::from(static_cast<std::int64_t>(i));
                    ++count;
                }
                if (name == "index") throw ValueError{repr(*needle) + " is not in list"};
                return Value::from(count);
            });
        }
        return noAttribute(object, name);
    }
    default: return noAttribute(object, name);
    }
}

static bool normalizeIndex(std::int64_t& index, std::size_t size) {
    if (index < 0) index += static_cast<std::int64_t>(size);
    return index >= 0 && index < static_cast<std::int64_t>(size);
}

Value getItem(const Value& object, const Value& key) {
    switch (object.kind) {
    case Value::Kind::Undefined: throw ValueError{object.text.empty() ? "undefined value has no items" : object.text};
    case Value::Kind::Dict: {
        if (!object.dict->object) {
            if (const Value* v = object.dict->find(key)) return *v;
        }
        if (key.isString()) return getAttribute(object, key.text);
        return Value::undefined(typeObjectName(object) + " has no attribute " + repr(key));
    }
    case Value::Kind::List: {
        if (key.kind == Value::Kind::Int || key.kind == Value::Kind::Bool) {
            std::int64_t index = requireInt(key, "index");
            if (normalizeIndex(index, object.list->items.size())) return object.list->items[static_cast<std::size_t>(index)];
            return Value::undefined(typeObjectName(object) + " has no element " + std::to_string(key.integer));
        }
        if (key.isString()) return getAttribute(object, key.text);
        return Value::undefined(typeObjectName(object) + " has no attribute " + repr(key));
    }
    case Value::Kind::String: {
        if (key.kind == Value::Kind::Int || key.kind == Value::Kind::Bool) {
            auto chars = codePoints(object.text);
            std::int64_t index = requireInt(key, "index");
            if (normalizeIndex(index, chars.size())) return Value::from(chars[static_cast<std::size_t>(index)]);
            return Value::undefined("'str object' has no element " + std::to_string(key.integer));
        }
        if (key.isString()) return getAttribute(object, key.text);
        return Value::undefined("'str object' has no attribute " + repr(key));
    }
    default:
        if (key.isString()) return getAttribute(object, key.text);
        return Value::undefined(typeObjectName(object) + " has no attribute " + repr(key));
    }
}

Value getSlice(const Value& object, const Value& startValue, const Value& stopValue, const Value& stepValue) {
    auto optionalInt = [](const Value& v, const char* what) -> std::optional<std::int64_t> {
        if (v.isNone() || v.isUndefined()) return std::nullopt;
        if (v.kind == Value::Kind::Int) return v.integer;
        if (v.kind == Value::Kind::Bool) return v.boolean ? 1 : 0;
        throw ValueError{std::string("slice ") + what + " must be an integer or None, not " + typeName(v)};
    };
    std::optional<std::int64_t> start = optionalInt(startValue, "start"), stop = optionalInt(stopValue, "stop"),
                                step = optionalInt(stepValue, "step");
    std::int64_t s = step.value_or(1);
    if (s == 0) throw ValueError{"slice step cannot be zero"};
    std::vector<Value> items;
    std::vector<std::string> chars;
    std::size_t size = 0;
    if (object.isList()) {
        size = object.list->items.size();
    } else if (object.isString()) {
        chars = codePoints(object.text);
        size = chars.size();
    } else if (object.isUndefined()) {
        throw ValueError{object.text.empty() ? "undefined value cannot be sliced" : object.text};
    } else {
        // Jinja subscripts slices directly (not through its forgiving getitem): a TypeError.
        throw ValueError{object.isMapping() ? "unhashable type: 'slice'" : "'" + typeName(object) + "' object is not subscriptable"};
    }
    // Python's slice.indices().
    const std::int64_t n = static_cast<std::int64_t>(size);
    auto adjust = [&](std::optional<std::int64_t> v, std::int64_t defaultValue, bool isStart) {
        (void)isStart;
        if (!v) return defaultValue;
        std::int64_t x = *v;
        if (x < 0) {
            x += n;
            if (x < 0) x = s < 0 ? -1 : 0;
        } else if (x >= n) {
            x = s < 0 ? n - 1 : n;
        }
        return x;
    };
    std::int64_t from = adjust(start, s < 0 ? n - 1 : 0, true);
    std::int64_t to = adjust(stop, s < 0 ? -1 : n, false);
    std::vector<std::size_t> picked;
    if (s > 0)
        for (std::int64_t i = from; i < to; i += s) picked.push_back(static_cast<std::size_t>(i));
    else
        for (std::int64_t i = from; i > to; i += s) picked.push_back(static_cast<std::size_t>(i));
    if (object.isList()) {
        for (std::size_t i : picked) items.push_back(object.list->items[i]);
        return Value::makeList(std::move(items), object.list->tuple);
    }
    std::string out;
    for (std::size_t i : picked) out += chars[i];
    return Value::from(std::move(out));
}

// ---- tests ----------------------------------------------------------------------------------------
static const std::set<std::string>& testNames() {
    static const std::set<std::string> names = {
        "defined", "undefined", "none", "string", "number", "integer", "float", "boolean", "mapping", "iterable",
        "sequence", "true", "false", "callable", "eq", "equalto", "==", "ne", "!=", "lt", "<", "lessthan", "le", "<=",
        "gt", ">", "greaterthan", "ge", ">=", "in", "odd", "even", "divisibleby", "sameas", "lower", "upper", "filter", "test"};
    return names;
}

bool hasTest(const std::string& name) { return testNames().count(name) > 0; }

bool applyTest(const std::string& name, const Value& v, CallArgs& args) {
    auto argument = [&]() -> const Value& {
        const Value* a = args.get(0, nullptr);
        if (!a) throw ValueError{"test '" + name + "' needs an argument"};
        return *a;
    };
    if (name == "defined") return !v.isUndefined();
    if (name == "undefined") return v.isUndefined();
    if (name == "none") return v.isNone();
    if (name == "string") return v.isString();
    if (name == "number") return v.isNumber();
    if (name == "integer") return v.kind == Value::Kind::Int;
    if (name == "float") return v.kind == Value::Kind::Float;
    if (name == "boolean") return v.kind == Value::Kind::Bool;
    if (name == "true") return v.kind == Value::Kind::Bool && v.boolean;
    if (name == "false") return v.kind == Value::Kind::Bool && !v.boolean;
    if (name == "mapping") return v.isMapping();
    if (name == "iterable") return v.isUndefined() || v.isString() || v.isList() || v.isMapping();
    if (name == "sequence") return v.isUndefined() || v.isString() || v.isList() || v.isMapping();
    if (name == "callable") return v.isCallable() || v.isUndefined(); // Undefined defines __call__
    if (name == "eq" || name == "equalto" || name == "==") return equals(v, argument());
    if (name == "ne" || name == "!=") return !equals(v, argument());
    if (name == "lt" || name == "<" || name == "lessthan") return compare(v, argument()) < 0;
    if (name == "le" || name == "<=") return compare(v, argument()) <= 0;
    if (name == "gt" || name == ">" || name == "greaterthan") return compare(v, argument()) > 0;
    if (name == "ge" || name == ">=") return compare(v, argument()) >= 0;
    if (name == "in") {
        const Value& container = argument();
        if (container.isString()) {
            if (!v.isString()) throw ValueError{"'in <string>' requires string as left operand, not " + typeName(v)};
            return container.text.find(v.text) != std::string::npos;
        }
        if (container.isMapping()) {
            if ((v.isList() && !v.list->tuple) || v.isMapping()) throw ValueError{"unhashable type: '" + typeName(v) + "'"};
            return container.dict->find(v) != nullptr;
        }
        for (const auto& item : iterate(container))
            if (equals(item, v)) return true;
        return false;
    }
    if (name == "odd" || name == "even" || name == "divisibleby") {
        // value % 2 (or % n) as Python computes it: floats work too.
        const Value divisor = name == "divisibleby" ? argument() : Value::from(std::int64_t(2));
        if (!v.isNumber() || !divisor.isNumber()) throw ValueError{"test '" + name + "' needs numbers"};
        double remainder;
        if (v.kind != Value::Kind::Float && divisor.kind != Value::Kind::Float) {
            std::int64_t d = requireInt(divisor, name);
            if (d == 0) throw ValueError{"integer division or modulo by zero"};
            remainder = static_cast<double>(requireInt(v, name) % d);
        } else {
            double d = toDouble(divisor);
            if (d == 0) throw ValueError{"float modulo"};
            remainder = std::fmod(toDouble(v), d);
        }
        if (name == "divisibleby") return remainder == 0;
        return (remainder != 0) == (name == "odd");
    }
    if (name == "sameas") {
        const Value& other = argument();
        if (v.kind != other.kind) return false;
        if (v.isNone() || v.isUndefined()) return true;
        if (v.kind == Value::Kind::Bool) return v.boolean == other.boolean;
        if (v.isList()) return v.list == other.list;
        if (v.isDict()) return v.dict == other.dict;
        return equals(v, other);
    }
    if (name == "lower" || name == "upper") {
        if (!v.isString()) return false;
        return name == "lower" ? pyLower(v.text) == v.text : pyUpper(v.text) == v.text;
    }
    if (name == "filter") return argument().isString() && hasFilter(argument().text);
    if (name == "test") return argument().isString() && hasTest(argument().text);
    throw ValueError{"no test named '" + name + "'"};
}

// ---- filters --------------------------------------------------------------------------------------
static const std::set<std::string>& filterNames() {
    static const std::set<std::string> names = {
        "trim", "tojson", "length", "count", "items", "first", "last", "join", "lower", "upper", "capitalize", "title",
        "replace", "default", "d", "list", "string", "int", "float", "selectattr", "rejectattr", "select", "reject",
        "map", "unique", "safe", "escape", "e", "forceescape", "abs", "round", "reverse", "sort", "sum", "min", "max",
        "indent", "dictsort", "wordcount", "attr", "batch", "format", "center", "truncate", "striptags", "bool"};
    return names;
}

bool hasFilter(const std::string& name) { return filterNames().count(name) > 0; }

namespace {

Value attributePath(const Value& item, const Value& attribute) {
    if (attribute.kind == Value::Kind::Int) return getItem(item, attribute);
    if (!attribute.isString()) throw ValueError{"attribute must be a string"};
    Value current = item;
    std::size_t start = 0;
    const std::string& path = attribute.text;
    while (true) {
        std::size_t dot = path.find('.', start);
        std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
        bool numeric = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
        current = numeric ? getItem(current, Value::from(static_cast<std::int64_t>(std::strtoll(part.c_str(), nullptr, 10))))
                          : getItem(current, Value::from(part));
        if (dot == std::string::npos) return current;
        start = dot + 1;
    }
}

std::string caseFolded(const Value& v, bool caseSensitive) { return caseSensitive || !v.isString() ? v.text : pyLower(v.text); }

Value sortKey(const Value& v, bool caseSensitive) {
    if (!caseSensitive && v.isString()) return Value::from(pyLower(v.text));
    return v;
}

CallArgs restArguments(const CallArgs& args, std::size_t from) {
    CallArgs rest;
    for (std::size_t i = from; i < args.positional.size(); ++i) rest.positional.push_back(args.positional[i]);
    rest.keyword = args.keyword;
    return rest;
}

std::vector<Value> selectOrReject(const Value& input, CallArgs& args, bool byAttribute, bool select) {
    std::vector<Value> out;
    if (!truthy(input)) return out; // Jinja: "if value:" before iterating
    std::size_t next = 0;
    Value attribute;
    if (byAttribute) {
        const Value* a = args.get(0, nullptr);
        if (!a) throw ValueError{"selectattr/rejectattr need an attribute name"};
        attribute = *a;
        next = 1;
    }
    const Value* testName = args.get(next, nullptr);
    CallArgs testArgs = restArguments(args, next + 1);
    for (const auto& item : iterate(input)) {
        Value subject = byAttribute ? attributePath(item, attribute) : item;
        bool passed;
        if (!testName) {
            passed = truthy(subject);
        } else {
            if (!testName->isString()) throw ValueError{"the test name must be a string"};
            if (!hasTest(testName->text)) throw ValueError{"no test named '" + testName->text + "'"};
            passed = applyTest(testName->text, subject, testArgs);
        }
        if (passed == select) out.push_back(item);
    }
    return out;
}

Value toInteger(const Value& v, const Value* fallback, const Value* baseValue) {
    Value defaultValue = fallback ? *fallback : Value::from(std::int64_t(0));
    switch (v.kind) {
    case Value::Kind::Int: return v;
    case Value::Kind::Bool: return Value::from(static_cast<std::int64_t>(v.boolean));
    case Value::Kind::Float:
        if (!std::isfinite(v.number)) return defaultValue;
        return Value::from(static_cast<std::int64_t>(std::trunc(v.number)));
    case Value::Kind::String: {
        std::string s = pyStrip(v.text, nullptr, true, true);
        int base = baseValue ? static_cast<int>(requireInt(*baseValue, "int")) : 10;
        std::string digits;
        for (char c : s)
            if (c != '_') digits += c;
        if (!digits.empty()) {
            char* end = nullptr;
            errno = 0;
            long long parsed = std::strtoll(digits.c_str(), &end, base);
            if (end && *end == '\0' && errno == 0) return Value::from(static_cast<std::int64_t>(parsed));
            end = nullptr;
            double d = std::strtod(digits.c_str(), &end);
            if (end && *end == '\0' && std::isfinite(d)) return Value::from(static_cast<std::int64_t>(std::trunc(d)));
        }
        return defaultValue;
    }
    default: return defaultValue;
    }
}

Value toFloat(const Value& v, const Value* fallback) {
    Value defaultValue = fallback ? *fallback : Value::from(0.0);
    switch (v.kind) {
    case Value::Kind::Int: return Value::from(static_cast<double>(v.integer));
    case Value::Kind::Bool: return Value::from(v.boolean ? 1.0 : 0.0);
    case Value::Kind::Float: return v;
    case Value::Kind::String: {
        std::string s = pyStrip(v.text, nullptr, true, true);
        if (s.empty()) return defaultValue;
        char* end = nullptr;
        double d = std::strtod(s.c_str(), &end);
        if (end && *end == '\0') return Value::from(d);
        return defaultValue;
    }
    default: return defaultValue;
    }
}

Value wordBeginningTitle(const std::string& s) {
    // Jinja's title filter: split before runs of whitespace, '-', '(', '{', '[', '<'; each piece
    // gets its first character upper-cased and the rest lower-cased.
    auto cps = decode(s);
    std::string out;
    std::size_t i = 0;
    auto separator = [](std::int32_t c) {
        return isPyWhitespace(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
    };
    while (i < cps.size()) {
        std::size_t start = i;
        if (separator(cps[i])) {
            while (i < cps.size() && separator(cps[i])) ++i;
        } else {
            while (i < cps.size() && !separator(cps[i])) ++i;
        }
        for (std::size_t k = start; k < i; ++k) encodeOne(out, k == start ? utf8proc_toupper(cps[k]) : utf8proc_tolower(cps[k]));
    }
    return Value::from(out);
}

std::string percentFormat(const std::string& format, const std::vector<Value>& values) {
    std::string out;
    std::size_t next = 0;
    for (std::size_t i = 0; i < format.size(); ++i) {
        if (format[i] != '%') {
            out += format[i];
            continue;
        }
        if (i + 1 >= format.size()) throw ValueError{"incomplete format"};
        char spec = format[++i];
        if (spec == '%') {
            out += '%';
            continue;
        }
        if (next >= values.size()) throw ValueError{"not enough arguments for format string"};
        const Value& v = values[next++];
        if (spec == 's') out += toStr(v);
        else if (spec == 'r') out += repr(v);
        else if (spec == 'd' || spec == 'i') out += std::to_string(static_cast<std::int64_t>(toDouble(v)));
        else if (spec == 'f') {
            char buffer[64];
            std::snprintf(buffer, sizeof buffer, "%f", toDouble(v));
            out += buffer;
        } else {
            throw ValueError{std::string("unsupported format character '") + spec + "'"};
        }
    }
    if (next < values.size()) throw ValueError{"not all arguments converted during string formatting"};
    return out;
}

} // namespace

Value applyFilter(const std::string& name, const Value& input, CallArgs& args, const BuiltinLimits& limits) {
    const std::string what = "filter '" + name + "'";
    if (name == "safe" || name == "escape" || name == "e" || name == "forceescape") {
        // transformers renders without autoescaping: escape marks nothing to change here.
        args.allow(0, {}, what);
        if (name == "safe") return input.isString() ? input : Value::from(toStr(input));
        std::string out;
        for (char c : toStr(input)) {
            switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&#34;"; break;
            case '\'': out += "&#39;"; break;
            default: out += c;
            }
        }
        return Value::from(out);
    }
    if (name == "trim") {
        args.allow(1, {"chars"}, what);
        return Value::from(pyStrip(toStr(input), args.get(0, "chars"), true, true));
    }
    if (name == "tojson") {
        args.allow(4, {"ensure_ascii", "indent", "separators", "sort_keys"}, what);
        // transformers' signature: tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)
        JsonDumpOptions options;
        if (const Value* v = args.get(0, "ensure_ascii")) options.ensureAscii = truthy(*v);
        if (const Value* v = args.get(1, "indent")) {
            if (v->kind == Value::Kind::Int) options.indent = std::string(static_cast<std::size_t>(std::max<std::int64_t>(0, std::min<std::int64_t>(v->integer, 1000))), ' ');
            else if (v->isString()) options.indent = v->text;
            else if (!v->isNone()) throw ValueError{"tojson: indent must be an integer, a string or None"};
        }
        if (const Value* v = args.get(2, "separators")) {
            if (v->isList() && v->list->items.size() == 2 && v->list->items[0].isString() && v->list->items[1].isString()) {
                options.itemSeparator = v->list->items[0].text;
                options.keySeparator = v->list->items[1].text;
            } else if (!v->isNone()) {
                throw ValueError{"tojson: separators must be a pair of strings"};
            }
        }
        if (const Value* v = args.get(3, "sort_keys")) options.sortKeys = truthy(*v);
        return Value::from(dumpJson(input, options, limits.maxStringBytes));
    }
    if (name == "length" || name == "count") {
        args.allow(0, {}, what);
        return Value::from(static_cast<std::int64_t>(length(input)));
    }
    if (name == "items") {
        args.allow(0, {}, what);
        if (input.isUndefined()) return Value::makeList();
        if (!input.isMapping()) throw ValueError{"can only get item pairs from a mapping."};
        std::vector<Value> out;
        for (const auto& [key, value] : input.dict->entries) out.push_back(Value::makeList({key, value}, true));
        return Value::makeList(std::move(out));
    }
    if (name == "first" || name == "last") {
        args.allow(0, {}, what);
        if (name == "last" && input.isMapping()) throw ValueError{"'dict' object is not reversible"};
        auto items = iterate(input);
        if (items.empty()) return Value::undefined(std::string("No ") + (name == "first" ? "first" : "last") + " item, sequence was empty.");
        return name == "first" ? items.front() : items.back();
    }
    if (name == "join") {
        args.allow(2, {"d", "attribute"}, what);
        const Value* separator = args.get(0, "d");
        const Value* attribute = args.get(1, "attribute");
        std::string sep = separator ? toStr(*separator) : "";
        std::string out;
        bool first = true;
        for (const auto& item : iterate(input)) {
            if (!first) out += sep;
            first = false;
            out += toStr(attribute ? attributePath(item, *attribute) : item);
            checkSize(out.size(), limits);
        }
        return Value::from(out);
    }
    if (name == "lower" || name == "upper" || name == "capitalize" || name == "title") {
        args.allow(0, {}, what);
        std::string s = toStr(input);
        if (name == "lower") return Value::from(pyLower(s));
        if (name == "upper") return Value::from(pyUpper(s));
        if (name == "capitalize") return Value::from(pyCapitalize(s));
        return wordBeginningTitle(s);
    }
    if (name == "replace") {
        args.allow(3, {"old", "new", "count"}, what);
        const Value* old = args.get(0, "old");
        const Value* replacement = args.get(1, "new");
        const Value* count = args.get(2, "count");
        if (!old || !replacement) throw ValueError{"replace needs the old and the new text"};
        return Value::from(pyReplace(toStr(input), toStr(*old), toStr(*replacement),
                                     count && !count->isNone() ? requireInt(*count, what) : -1, limits));
    }
    if (name == "default" || name == "d") {
        args.allow(2, {"default_value", "boolean"}, what);
        const Value* fallback = args.get(0, "default_value");
        const Value* boolean = args.get(1, "boolean");
        bool useDefault = input.isUndefined() || (boolean && truthy(*boolean) && !truthy(input));
        if (!useDefault) return input;
        return fallback ? *fallback : Value::from("");
    }
    if (name == "list") {
        args.allow(0, {}, what);
        return Value::makeList(iterate(input));
    }
    if (name == "string") {
        args.allow(0, {}, what);
        return Value::from(toStr(input));
    }
    if (name == "bool") {
        args.allow(0, {}, what);
        return Value::from(truthy(input));
    }
    if (name == "int") {
        args.allow(2, {"default", "base"}, what);
        return toInteger(input, args.get(0, "default"), args.get(1, "base"));
    }
    if (name == "float") {
        args.allow(1, {"default"}, what);
        return toFloat(input, args.get(0, "default"));
    }
    if (name == "selectattr" || name == "rejectattr")
        return Value::makeList(selectOrReject(input, args, true, name == "selectattr"));
    if (name == "select" || name == "reject") return Value::makeList(selectOrReject(input, args, false, name == "select"));
    if (name == "map") {
        std::vector<Value> out;
        if (!truthy(input)) return Value::makeList(); // Jinja: "if value:" before iterating
        const Value* attribute = nullptr;
        const Value* fallback = nullptr;
        for (const auto& [key, value] : args.keyword) {
            if (key == "attribute") attribute = &value;
            else if (key == "default") fallback = &value;
        }
        if (attribute) {
            for (const auto& item : iterate(input)) {
                Value v = attributePath(item, *attribute);
                out.push_back(v.isUndefined() && fallback ? *fallback : v);
            }
            return Value::makeList(std::move(out));
        }
        const Value* filterName = args.get(0, nullptr);
        if (!filterName || !filterName->isString()) throw ValueError{"map needs a filter name or attribute="};
        if (!hasFilter(filterName->text) || filterName->text == "map") throw ValueError{"no filter named '" + filterName->text + "'"};
        CallArgs rest = restArguments(args, 1);
        for (const auto& item : iterate(input)) {
            CallArgs copy = rest;
            out.push_back(applyFilter(filterName->text, item, copy, limits));
        }
        return Value::makeList(std::move(out));
    }
    if (name == "unique") {
        args.allow(2, {"case_sensitive", "attribute"}, what);
        const Value* caseSensitiveValue = args.get(0, "case_sensitive");
        const Value* attribute = args.get(1, "attribute");
        bool caseSensitive = caseSensitiveValue && truthy(*caseSensitiveValue);
        std::vector<Value> out, seen;
        for (const auto& item : iterate(input)) {
            Value key = attribute ? attributePath(item, *attribute) : item;
            if ((key.isList() && !key.list->tuple) || key.isMapping()) throw ValueError{"unhashable type: '" + typeName(key) + "'"};
            if (!caseSensitive && key.isString()) key = Value::from(caseFolded(key, false));
            bool duplicate = false;
            for (const auto& s : seen) duplicate = duplicate || equals(s, key);
            if (duplicate) continue;
            seen.push_back(key);
            out.push_back(item);
        }
        return Value::makeList(std::move(out));
    }
    if (name == "abs") {
        args.allow(0, {}, what);
        if (input.kind == Value::Kind::Bool) return Value::from(static_cast<std::int64_t>(input.boolean));
        if (input.kind == Value::Kind::Int) return Value::from(input.integer < 0 ? -input.integer : input.integer);
        return Value::from(std::fabs(toDouble(input)));
    }
    if (name == "round") {
        args.allow(2, {"precision", "method"}, what);
        const Value* precisionValue = args.get(0, "precision");
        const Value* methodValue = args.get(1, "method");
        std::int64_t precision = precisionValue ? requireInt(*precisionValue, what) : 0;
        std::string method = methodValue ? toStr(*methodValue) : "common";
        if (method == "common" && (input.kind == Value::Kind::Int || input.kind == Value::Kind::Bool))
            return Value::from(requireInt(input, what)); // Python's round(int, n) is an int
        double scale = std::pow(10.0, static_cast<double>(precision));
        double x = toDouble(input) * scale;
        // 'common' is Python's round(): halves go to the even neighbour.
        double r = method == "ceil" ? std::ceil(x) : method == "floor" ? std::floor(x) : std::nearbyint(x);
        if (method != "common" && method != "ceil" && method != "floor") throw ValueError{"method must be common, ceil or floor"};
        return Value::from(r / scale);
    }
    if (name == "reverse") {
        args.allow(0, {}, what);
        if (input.isString()) {
            auto chars = codePoints(input.text);
            std::string out;
            for (auto it = chars.rbegin(); it != chars.rend(); ++it) out += *it;
            return Value::from(out);
        }
        auto items = iterate(input);
        std::reverse(items.begin(), items.end());
        return Value::makeList(std::move(items));
    }
    if (name == "sort" || name == "dictsort") {
        if (name == "dictsort") {
            args.allow(3, {"case_sensitive", "by", "reverse"}, what);
            if (!input.isMapping()) throw ValueError{"dictsort needs a mapping"};
            const Value* cs = args.get(0, "case_sensitive");
            const Value* by = args.get(1, "by");
            const Value* rev = args.get(2, "reverse");
            bool caseSensitive = cs && truthy(*cs);
            std::size_t position = by && by->isString() && by->text == "value" ? 1 : 0;
            std::vector<Value> items;
            for (const auto& [key, value] : input.dict->entries) items.push_back(Value::makeList({key, value}, true));
            std::stable_sort(items.begin(), items.end(), [&](const Value& a, const Value& b) {
                return compare(sortKey(a.list->items[position], caseSensitive), sortKey(b.list->items[position], caseSensitive)) < 0;
            });
            if (rev && truthy(*rev)) std::reverse(items.begin(), items.end());
            return Value::makeList(std::move(items));
        }
        args.allow(3, {"reverse", "case_sensitive", "attribute"}, what);
        const Value* rev = args.get(0, "reverse");
        const Value* cs = args.get(1, "case_sensitive");
        const Value* attribute = args.get(2, "attribute");
        bool caseSensitive = cs && truthy(*cs);
        auto items = iterate(input);
        std::stable_sort(items.begin(), items.end(), [&](const Value& a, const Value& b) {
            Value ka = sortKey(attribute ? attributePath(a, *attribute) : a, caseSensitive);
            Value kb = sortKey(attribute ? attributePath(b, *attribute) : b, caseSensitive);
            return rev && truthy(*rev) ? compare(kb, ka) < 0 : compare(ka, kb) < 0;
        });
        return Value::makeList(std::move(items));
    }
    if (name == "sum") {
        args.allow(2, {"attribute", "start"}, what);
        const Value* attribute = args.get(0, "attribute");
        const Value* start = args.get(1, "start");
        Value total = start ? *start : Value::from(std::int64_t(0));
        for (const auto& item : iterate(input)) {
            Value v = attribute ? attributePath(item, *attribute) : item;
            if (total.kind == Value::Kind::Int && v.kind == Value::Kind::Int) total = Value::from(total.integer + v.integer);
            else total = Value::from(toDouble(total) + toDouble(v));
        }
        return total;
    }
    if (name == "min" || name == "max") {
        args.allow(2, {"case_sensitive", "attribute"}, what);
        const Value* cs = args.get(0, "case_sensitive");
        const Value* attribute = args.get(1, "attribute");
        bool caseSensitive = cs && truthy(*cs);
        auto items = iterate(input);
        if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
        std::size_t best = 0;
        for (std::size_t i = 1; i < items.size(); ++i) {
            Value a = sortKey(attribute ? attributePath(items[i], *attribute) : items[i], caseSensitive);
            Value b = sortKey(attribute ? attributePath(items[best], *attribute) : items[best], caseSensitive);
            int c = compare(a, b);
            if (name == "min" ? c < 0 : c > 0) best = i;
        }
        return items[best];
    }
    if (name == "indent") {
        args.allow(3, {"width", "first", "blank"}, what);
        const Value* widthValue = args.get(0, "width");
        const Value* firstValue = args.get(1, "first");
        const Value* blankValue = args.get(2, "blank");
        std::string indentation = widthValue && widthValue->isString()
                                      ? widthValue->text
                                      : std::string(static_cast<std::size_t>(std::clamp<std::int64_t>(widthValue ? requireInt(*widthValue, what) : 4, 0, 1000)), ' ');
        bool first = firstValue && truthy(*firstValue);
        bool blank = blankValue && truthy(*blankValue);
        if (!input.isString()) throw ValueError{"indent needs a string, got " + typeName(input)};
        std::string s = input.text;
        std::string out;
        std::size_t start = 0;
        bool firstLine = true;
        while (true) {
            std::size_t nl = s.find('\n', start);
            std::string line = s.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
            bool indentThis = firstLine ? first : (blank || !pyStrip(line, nullptr, true, true).empty());
            if (indentThis && !(firstLine && line.empty() && !blank && nl == std::string::npos && false)) out += indentation;
            out += line;
            checkSize(out.size(), limits);
            if (nl == std::string::npos) break;
            out += '\n';
            start = nl + 1;
            firstLine = false;
        }
        return Value::from(out);
    }
    if (name == "wordcount") {
        args.allow(0, {}, what);
        std::int64_t words = 0;
        bool inWord = false;
        for (std::int32_t c : decode(toStr(input))) {
            bool wordChar = c == '_' || utf8proc_category(c) <= UTF8PROC_CATEGORY_NO;
            if (wordChar && !inWord) ++words;
            inWord = wordChar;
        }
        return Value::from(words);
    }
    if (name == "attr") {
        args.allow(1, {}, what);
        const Value* attribute = args.get(0, nullptr);
        if (!attribute || !attribute->isString()) throw ValueError{"attr needs an attribute name"};
        return getAttribute(input, attribute->text);
    }
    if (name == "format") {
        std::vector<Value> values = args.positional;
        return Value::from(percentFormat(toStr(input), values));
    }
    if (name == "batch") {
        args.allow(2, {"linecount", "fill_with"}, what);
        const Value* countValue = args.get(0, "linecount");
        const Value* fill = args.get(1, "fill_with");
        std::int64_t count = countValue ? requireInt(*countValue, what) : 0;
        if (count <= 0) throw ValueError{"batch needs a positive line count"};
        std::vector<Value> out, current;
        for (const auto& item : iterate(input)) {
            current.push_back(item);
            if (static_cast<std::int64_t>(current.size()) == count) {
                out.push_back(Value::makeList(std::move(current)));
                current.clear();
            }
        }
        if (!current.empty()) {
            if (fill)
                while (static_cast<std::int64_t>(current.size()) < count) current.push_back(*fill);
            out.push_back(Value::makeList(std::move(current)));
        }
        return Value::makeList(std::move(out));
    }
    if (name == "center") {
        args.allow(1, {"width"}, what);
        const Value* widthValue = args.get(0, "width");
        std::int64_t width = std::min<std::int64_t>(widthValue ? requireInt(*widthValue, what) : 80, 100000);
        std::string s = toStr(input);
        std::int64_t n = static_cast<std::int64_t>(codePointCount(s));
        if (width <= n) return Value::from(s);
        std::int64_t total = width - n;
        std::int64_t left = total / 2 + (total & width & 1);
        return Value::from(std::string(static_cast<std::size_t>(left), ' ') + s + std::string(static_cast<std::size_t>(total - left), ' '));
    }
    if (name == "truncate" || name == "striptags") {
        throw ValueError{"filter '" + name + "' is not supported by this engine"};
    }
    throw ValueError{"no filter named '" + name + "'"};
}

// ---- globals --------------------------------------------------------------------------------------
namespace {

std::string strftime(const std::string& format, std::int64_t seconds) {
    std::time_t t = static_cast<std::time_t>(seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    static const char* const days[] = {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"};
    static const char* const months[] = {"January", "February", "March", "April", "May", "June", "July",
                                         "August", "September", "October", "November", "December"};
    auto two = [](int v) {
        char b[16];
        std::snprintf(b, sizeof b, "%02d", v);
        return std::string(b);
    };
    std::string out;
    for (std::size_t i = 0; i < format.size(); ++i) {
        if (format[i] != '%' || i + 1 >= format.size()) {
            out += format[i];
            continue;
        }
        char c = format[++i];
        bool noPad = false;
        if (c == '-' && i + 1 < format.size()) { // glibc's %-d: no padding
            noPad = true;
            c = format[++i];
        }
        auto num = [&](int v) { return noPad ? std::to_string(v) : two(v); };
        switch (c) {
        case 'Y': out += std::to_string(tm.tm_year + 1900); break;
        case 'y': out += two(tm.tm_year % 100); break;
        case 'm': out += num(tm.tm_mon + 1); break;
        case 'd': out += num(tm.tm_mday); break;
        case 'e': {
            char b[8];
            std::snprintf(b, sizeof b, "%2d", tm.tm_mday);
            out += b;
            break;
        }
        case 'H': out += num(tm.tm_hour); break;
        case 'I': out += num(tm.tm_hour % 12 == 0 ? 12 : tm.tm_hour % 12); break;
        case 'M': out += num(tm.tm_min); break;
        case 'S': out += num(tm.tm_sec); break;
        case 'p': out += tm.tm_hour < 12 ? "AM" : "PM"; break;
        case 'j': {
            char b[8];
            std::snprintf(b, sizeof b, noPad ? "%d" : "%03d", tm.tm_yday + 1);
            out += b;
            break;
        }
        case 'a': out += std::string(days[tm.tm_wday]).substr(0, 3); break;
        case 'A': out += days[tm.tm_wday]; break;
        case 'b':
        case 'h': out += std::string(months[tm.tm_mon]).substr(0, 3); break;
        case 'B': out += months[tm.tm_mon]; break;
        case 'w': out += std::to_string(tm.tm_wday); break;
        case 'F': out += std::to_string(tm.tm_year + 1900) + "-" + two(tm.tm_mon + 1) + "-" + two(tm.tm_mday); break;
        case 'T': out += two(tm.tm_hour) + ":" + two(tm.tm_min) + ":" + two(tm.tm_sec); break;
        case 'Z': out += "UTC"; break;
        case 'z': out += "+0000"; break;
        case '%': out += '%'; break;
        default:
            out += '%';
            if (noPad) out += '-';
            out += c;
        }
    }
    return out;
}

} // namespace

std::vector<std::pair<std::string, Value>> makeGlobals(const BuiltinLimits& limits) {
    std::vector<std::pair<std::string, Value>> globals;
    globals.emplace_back("range", Value::makeCallable("range", [limits](CallArgs& a) {
        a.allow(3, {}, "range");
        std::int64_t start = 0, stop = 0, step = 1;
        if (a.positional.empty()) throw ValueError{"range expected at least 1 argument, got 0"};
        if (a.positional.size() == 1) {
            stop = requireInt(a.positional[0], "range");
        } else {
            start = requireInt(a.positional[0], "range");
            stop = requireInt(a.positional[1], "range");
            if (a.positional.size() > 2) step = requireInt(a.positional[2], "range");
        }
        if (step == 0) throw ValueError{"range() arg 3 must not be zero"};
        std::vector<Value> items;
        for (std::int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
            if (static_cast<std::int64_t>(items.size()) >= limits.maxRange)
                throw ValueError{"range() is longer than " + std::to_string(limits.maxRange) + " items (the sandbox's limit)"};
            items.push_back(Value::from(i));
        }
        return Value::makeList(std::move(items));
    }));
    auto makeMapping = [](CallArgs& a, bool object) {
        Value v = object ? Value::makeObject() : Value::makeDict();
        if (a.positional.size() > 1) throw ValueError{"expected at most 1 positional argument"};
        if (!a.positional.empty()) {
            const Value& initial = a.positional[0];
            if (!initial.isMapping()) throw ValueError{"the positional argument must be a mapping"};
            for (const auto& entry : initial.dict->entries) v.dict->set(entry.first, entry.second);
        }
        for (const auto& [key, value] : a.keyword) v.dict->set(Value::from(key), value);
        return v;
    };
    globals.emplace_back("namespace", Value::makeCallable("namespace", [makeMapping](CallArgs& a) { return makeMapping(a, true); }));
    globals.emplace_back("dict", Value::makeCallable("dict", [makeMapping](CallArgs& a) { return makeMapping(a, false); }));
    globals.emplace_back("raise_exception", Value::makeCallable("raise_exception", [](CallArgs& a) -> Value {
        const Value* message = a.get(0, "message");
        throw TemplateRaised{message ? toStr(*message) : std::string()};
    }));
    globals.emplace_back("strftime_now", Value::makeCallable("strftime_now", [limits](CallArgs& a) {
        a.allow(1, {"format"}, "strftime_now");
        const Value* format = a.get(0, "format");
        if (!format || !format->isString()) throw ValueError{"strftime_now needs a format string"};
        std::int64_t now = limits.nowUnixSeconds ? *limits.nowUnixSeconds : static_cast<std::int64_t>(std::time(nullptr));
        return Value::from(strftime(format->text, now));
    }));
    globals.emplace_back("joiner", Value::makeCallable("joiner", [](CallArgs& a) {
        const Value* sepValue = a.get(0, "sep");
        std::string sep = sepValue ? toStr(*sepValue) : ", ";
        auto used = std::make_shared<bool>(false);
        return Value::makeCallable("joiner", [sep, used](CallArgs&) {
            if (!*used) {
                *used = true;
                return Value::from("");
            }
            return Value::from(sep);
        });
    }));
    return globals;
}

} // namespace sp::chat
