#pragma once
// Checked access to tokenizer.json fields: every mistake in the file becomes an sp::Error that
// names the file and the JSON path ("tokenizer.json: model.merges[3] must be a string").
#include "softprompt/error.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sp::tok {

using Json = nlohmann::json;

class JsonPath {
public:
    JsonPath(std::string source, std::string path, int depth = 0)
        : source_(std::move(source)), path_(std::move(path)), depth_(depth)
    {
    }

    JsonPath operator/(const std::string& key) const
    {
        return JsonPath(source_, path_.empty() ? key : path_ + "." + key, depth_ + 1);
    }
    JsonPath operator[](std::size_t index) const
    {
        return JsonPath(source_, path_ + "[" + std::to_string(index) + "]", depth_ + 1);
    }
    // Nested Sequence sections recurse; a hostile file must not exhaust the stack.
    void checkNesting() const
    {
        if (depth_ > 64)
            fail("nests Sequence sections too deeply (more than 32 levels)");
    }

    [[noreturn]] void fail(const std::string& detail) const
    {
        throw Error(source_ + ": " + (path_.empty() ? std::string("top level") : path_) + " " + detail);
    }
    const std::string& source() const { return source_; }
    const std::string& path() const { return path_; }

private:
    std::string source_;
    std::string path_;
    int depth_ = 0;
};

inline const char* jsonTypeName(const Json& value)
{
    return value.type_name();
}

inline const Json& requireMember(const Json& object, const char* key, const JsonPath& path)
{
    if (!object.is_object())
        path.fail(std::string("must be an object (got ") + jsonTypeName(object) + ")");
    const auto it = object.find(key);
    if (it == object.end())
        (path / key).fail("is missing");
    return *it;
}

// nullptr when the member is absent or null.
inline const Json* optionalMember(const Json& object, const char* key)
{
    if (!object.is_object())
        return nullptr;
    const auto it = object.find(key);
    if (it == object.end() || it->is_null())
        return nullptr;
    return &*it;
}

inline std::string requireString(const Json& value, const JsonPath& path)
{
    if (!value.is_string())
        path.fail(std::string("must be a string (got ") + jsonTypeName(value) + ")");
    return value.get<std::string>();
}

inline std::string stringMember(const Json& object, const char* key, const JsonPath& path)
{
    return requireString(requireMember(object, key, path), path / key);
}

inline bool boolMember(const Json& object, const char* key, bool fallback, const JsonPath& path)
{
    const Json* value = optionalMember(object, key);
    if (value == nullptr)
        return fallback;
    if (!value->is_boolean())
        (path / key).fail(std::string("must be true or false (got ") + jsonTypeName(*value) + ")");
    return value->get<bool>();
}

// Token ids must fit the int32 ids used everywhere else and stay below a sane vocabulary size.
constexpr std::int64_t kMaxTokenId = (std::int64_t{1} << 24) - 1;

inline std::int32_t requireTokenId(const Json& value, const JsonPath& path)
{
    if (!value.is_number_integer())
        path.fail(std::string("must be an integer token id (got ") + jsonTypeName(value) + ")");
    const bool tooLarge =
        value.is_number_unsigned() && value.get<std::uint64_t>() > std::uint64_t(kMaxTokenId);
    const std::int64_t id = tooLarge ? kMaxTokenId + 1 : value.get<std::int64_t>();
    if (id < 0 || id > kMaxTokenId)
        path.fail("is " + value.dump() + ", outside the supported id range 0.." +
                  std::to_string(kMaxTokenId));
    return static_cast<std::int32_t>(id);
}

inline std::uint64_t unsignedMember(const Json& object, const char* key, std::uint64_t fallback,
                                    std::uint64_t maximum, const JsonPath& path)
{
    const Json* value = optionalMember(object, key);
    if (value == nullptr)
        return fallback;
    if (!value->is_number_unsigned() && !(value->is_number_integer() && value->get<std::int64_t>() >= 0))
        (path / key).fail(std::string("must be a non-negative integer (got ") + jsonTypeName(*value) + ")");
    const std::uint64_t number = value->get<std::uint64_t>();
    if (number > maximum)
        (path / key)
            .fail("is " + std::to_string(number) + ", more than the supported " + std::to_string(maximum));
    return number;
}

// Runs `make` and re-throws an sp::Error it raises (a regex that does not compile, say) with the
// file and JSON path in front.
template <typename Make> auto rethrowWithPath(const JsonPath& path, Make&& make) -> decltype(make())
{
    try {
        return make();
    } catch (const Error& error) {
        path.fail(std::string("is not usable: ") + error.what());
    }
}

// The steps of a "Sequence" section: `member` must be an array whose elements `make` builds (the
// section's own factory, so Sequences nest up to JsonPath::checkNesting's limit).
template <typename Step>
std::vector<std::unique_ptr<Step>> sequenceSteps(const Json& config, const char* member, const JsonPath& path,
                                                 std::unique_ptr<Step> (*make)(const Json&, const JsonPath&))
{
    path.checkNesting();
    const Json& list = requireMember(config, member, path);
    if (!list.is_array())
        (path / member).fail("must be an array");
    std::vector<std::unique_ptr<Step>> steps;
    for (std::size_t i = 0; i < list.size(); ++i)
        steps.push_back(make(list[i], (path / member)[i]));
    return steps;
}

// "Sequence[a,b]" from the steps' own descriptions.
template <typename Step> std::string describeSequence(const std::vector<std::unique_ptr<Step>>& steps)
{
    std::string text = "Sequence[";
    for (std::size_t i = 0; i < steps.size(); ++i)
        text += (i > 0 ? "," : "") + steps[i]->describe();
    return text + "]";
}

// A one-character string field (Metaspace replacement, Strip content).
char32_t charMember(const Json& object, const char* key, char32_t fallback, const JsonPath& path);

} // namespace sp::tok
