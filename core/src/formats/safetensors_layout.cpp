#include "formats/safetensors_layout.h"

#include "softprompt/error.h"
#include "softprompt/text.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <limits>
#include <unordered_set>

namespace sp::formats {
namespace {

using nlohmann::json;

struct DtypeName {
    const char* name;
    std::optional<TensorDType> dtype; // nullopt: valid in the reference, not supported here
    int rank;                         // position in the reference's Dtype enum
};

// Every dtype the reference knows, in the order of its Dtype enum (increasing alignment).
const DtypeName kReferenceDtypes[] = {
    {"BOOL", TensorDType::BOOL, 0},   {"F4", std::nullopt, 1},           {"F6_E2M3", std::nullopt, 2},
    {"F6_E3M2", std::nullopt, 3},     {"U8", TensorDType::U8, 4},        {"I8", TensorDType::I8, 5},
    {"F8_E5M2", std::nullopt, 6},     {"F8_E4M3", std::nullopt, 7},      {"F8_E8M0", std::nullopt, 8},
    {"F8_E4M3FNUZ", std::nullopt, 9}, {"F8_E5M2FNUZ", std::nullopt, 10}, {"I16", TensorDType::I16, 11},
    {"U16", std::nullopt, 12},        {"F16", TensorDType::F16, 13},     {"BF16", TensorDType::BF16, 14},
    {"I32", TensorDType::I32, 15},    {"U32", std::nullopt, 16},         {"F32", TensorDType::F32, 17},
    {"C64", std::nullopt, 18},        {"F64", TensorDType::F64, 19},     {"I64", TensorDType::I64, 20},
    {"U64", std::nullopt, 21},
};

std::string supportedDtypeList()
{
    std::vector<std::string> names;
    for (const DtypeName& entry : kReferenceDtypes)
        if (entry.dtype)
            names.emplace_back(entry.name);
    return joinStrings(names, ", ");
}

// Byte offset of the first malformed UTF-8 sequence, or npos.
std::size_t firstInvalidUtf8(std::string_view text)
{
    std::size_t i = 0;
    while (i < text.size()) {
        std::size_t length = 1;
        const auto lead = static_cast<unsigned char>(text[i]);
        if (lead >= 0xF0)
            length = 4;
        else if (lead >= 0xE0)
            length = 3;
        else if (lead >= 0xC0)
            length = 2;
        if (!isValidUtf8(text.substr(i, length)))
            return i;
        i += length;
    }
    return std::string_view::npos;
}

// nlohmann keeps the last of duplicate keys without a word, but the format forbids them, and a
// duplicate tensor name could hide a second definition of the same weights. The parse callback
// tracks the keys of every open object; it also bounds nesting as serde_json does.
class HeaderParseGuard {
public:
    explicit HeaderParseGuard(const std::string& sourceName) : sourceName_(sourceName) {}

    bool operator()(int /*depth*/, json::parse_event_t event, json& parsed)
    {
        switch (event) {
        case json::parse_event_t::object_start:
            openObjects_.emplace_back();
            enterContainer();
            break;
        case json::parse_event_t::array_start:
            openObjects_.emplace_back(); // placeholder so object/array nesting pops in step
            enterContainer();
            break;
        case json::parse_event_t::object_end:
        case json::parse_event_t::array_end:
            openObjects_.pop_back();
            --depth_;
            break;
        case json::parse_event_t::key: {
            const std::string& key = parsed.get_ref<const std::string&>();
            if (!openObjects_.back().insert(key).second) {
                const std::string where =
                    openObjects_.size() == 1
                        ? ""
                        : " inside an entry (nesting level " + std::to_string(openObjects_.size()) + ")";
                throw Error(fileError(sourceName_, "header has the key " + quotedName(key) + " twice" +
                                                       where +
                                                       "; duplicate keys are not allowed in safetensors"));
            }
            break;
        }
        case json::parse_event_t::value:
            break;
        }
        return true;
    }

private:
    void enterContainer()
    {
        if (++depth_ > kMaxJsonDepth)
            throw Error(fileError(sourceName_, "header JSON is nested more than " +
                                                   std::to_string(kMaxJsonDepth) + " levels deep"));
    }

    const std::string& sourceName_;
    std::vector<std::unordered_set<std::string>> openObjects_;
    int depth_ = 0;
};

std::string shapeText(const std::vector<std::int64_t>& shape)
{
    std::string text = "[";
    for (std::size_t i = 0; i < shape.size(); ++i)
        text += (i ? ", " : "") + std::to_string(shape[i]);
    return text + "]";
}

std::uint64_t readUnsigned(const json& value, const std::string& sourceName, const std::string& what)
{
    if (!value.is_number_unsigned())
        throw Error(
            fileError(sourceName, what + " must be a non-negative integer, found " + brief(value.dump())));
    return value.get<std::uint64_t>();
}

TensorEntry readTensorEntry(const std::string& name, const json& info, const std::string& sourceName)
{
    const std::string tensor = "tensor " + quotedName(name);
    if (!info.is_object())
        throw Error(fileError(sourceName, tensor +
                                              ": header entry must be an object with dtype, shape "
                                              "and data_offsets, found " +
                                              std::string(info.type_name())));
    for (const char* field : {"dtype", "shape", "data_offsets"})
        if (!info.contains(field))
            throw Error(fileError(sourceName, tensor + ": header entry has no \"" + field + "\""));

    TensorEntry entry;
    entry.name = name;

    const json& dtype = info.at("dtype");
    if (!dtype.is_string())
        throw Error(fileError(sourceName, tensor + ": dtype must be a string, found " + brief(dtype.dump())));
    const std::string dtypeText = dtype.get<std::string>();
    const auto known = std::find_if(std::begin(kReferenceDtypes), std::end(kReferenceDtypes),
                                    [&](const DtypeName& d) { return dtypeText == d.name; });
    if (known == std::end(kReferenceDtypes))
        throw Error(fileError(
            sourceName, tensor + ": unknown dtype \"" + dtypeText +
                            "\" (safetensors dtypes this program reads: " + supportedDtypeList() + ")"));
    if (!known->dtype)
        throw Error(fileError(sourceName, tensor + ": dtype " + dtypeText +
                                              " is valid safetensors but not supported here (supported: " +
                                              supportedDtypeList() + "); convert the checkpoint first"));
    entry.dtype = *known->dtype;

    const json& shape = info.at("shape");
    if (!shape.is_array())
        throw Error(fileError(sourceName, tensor + ": shape must be an array, found " + brief(shape.dump())));
    for (const json& dim : shape) {
        const std::uint64_t size = readUnsigned(dim, sourceName, tensor + ": every shape entry");
        if (size > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
            throw Error(fileError(sourceName, tensor + ": shape entry " + std::to_string(size) +
                                                  " overflows a 64-bit signed size"));
        entry.shape.push_back(static_cast<std::int64_t>(size));
    }

    const json& offsets = info.at("data_offsets");
    if (!offsets.is_array() || offsets.size() != 2)
        throw Error(fileError(sourceName, tensor + ": data_offsets must be [begin, end], found " +
                                              brief(offsets.dump())));
    entry.begin = readUnsigned(offsets[0], sourceName, tensor + ": data_offsets begin");
    entry.end = readUnsigned(offsets[1], sourceName, tensor + ": data_offsets end");
    return entry;
}

// The element count times the element size, or nullopt on overflow (the reference's
// ValidationOverflow).
std::optional<std::uint64_t> byteSizeOf(const TensorEntry& entry)
{
    std::uint64_t elements = 1;
    for (std::int64_t dim : entry.shape) {
        const auto size = static_cast<std::uint64_t>(dim);
        if (size != 0 && elements > std::numeric_limits<std::uint64_t>::max() / size)
            return std::nullopt;
        elements *= size;
    }
    const std::uint64_t elementBytes = dtypeSize(entry.dtype);
    if (elements > std::numeric_limits<std::uint64_t>::max() / elementBytes)
        return std::nullopt;
    return elements * elementBytes;
}

} // namespace

void appendJsonString(std::string& out, std::string_view text)
{
    static const char kHex[] = "0123456789abcdef";
    out += '"';
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        switch (c) {
        case '"':
            out += "\\\"";
            break;
        case '\\':
            out += "\\\\";
            break;
        case '\b':
            out += "\\b";
            break;
        case '\f':
            out += "\\f";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\r':
            out += "\\r";
            break;
        case '\t':
            out += "\\t";
            break;
        default:
            if (byte < 0x20) {
                out += "\\u00";
                out += kHex[byte >> 4];
                out += kHex[byte & 0xF];
            } else {
                out += c;
            }
        }
    }
    out += '"';
}

std::string quotedName(std::string_view text)
{
    constexpr std::size_t kLongest = 200;
    std::size_t end = std::min(text.size(), kLongest);
    while (end < text.size() && end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80)
        --end; // never split a UTF-8 sequence
    std::string out;
    appendJsonString(out, text.substr(0, end));
    if (end < text.size())
        out += "... (" + std::to_string(text.size()) + " bytes)";
    return out;
}

std::string brief(const std::string& dumpedJson)
{
    constexpr std::size_t kLongest = 80;
    if (dumpedJson.size() <= kLongest)
        return dumpedJson;
    std::size_t end = kLongest;
    while (end > 0 && (static_cast<unsigned char>(dumpedJson[end]) & 0xC0) == 0x80)
        --end; // never split a UTF-8 sequence
    return dumpedJson.substr(0, end) + "...";
}

int referenceDtypeRank(TensorDType dtype)
{
    for (const DtypeName& entry : kReferenceDtypes)
        if (entry.dtype == dtype)
            return entry.rank;
    return -1;
}

SafetensorsLayout parseSafetensorsLayout(std::string_view bytes, const std::string& sourceName)
{
    if (bytes.size() < 8)
        throw Error(fileError(sourceName, "file is " + std::to_string(bytes.size()) +
                                              " bytes, too short for the 8-byte header length of a "
                                              "safetensors file (truncated?)"));
    std::uint64_t headerLength = 0;
    for (int i = 7; i >= 0; --i)
        headerLength = (headerLength << 8) | static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)]);
    if (headerLength > kMaxHeaderBytes)
        throw Error(fileError(sourceName, "header length " + std::to_string(headerLength) +
                                              " bytes is over the format's 100 MB limit; this is not a "
                                              "valid safetensors file"));
    if (headerLength > bytes.size() - 8)
        throw Error(fileError(sourceName, "header length " + std::to_string(headerLength) +
                                              " bytes runs past the end of the file (" +
                                              std::to_string(bytes.size()) +
                                              " bytes): the file is truncated or not safetensors"));

    SafetensorsLayout layout;
    layout.dataStart = 8 + static_cast<std::size_t>(headerLength);
    const std::string_view header = bytes.substr(8, static_cast<std::size_t>(headerLength));

    const std::size_t badUtf8 = firstInvalidUtf8(header);
    if (badUtf8 != std::string_view::npos)
        throw Error(fileError(sourceName, "header is not valid UTF-8 (bad byte at header offset " +
                                              std::to_string(badUtf8) + ")"));

    // nlohmann skips a leading byte-order mark; serde_json rejects it.
    if (header.substr(0, 3) == "\xEF\xBB\xBF")
        throw Error(
            fileError(sourceName, "header is not valid JSON: it starts with a UTF-8 byte-order mark"));
    // nlohmann stops at a NUL byte as if the input ended there; serde_json rejects it.
    const std::size_t nul = header.find('\0');
    if (nul != std::string_view::npos)
        throw Error(fileError(sourceName, "header is not valid JSON: NUL byte at header offset " +
                                              std::to_string(nul) + " (pad headers with spaces)"));
    json root;
    try {
        root = json::parse(header.begin(), header.end(), HeaderParseGuard(sourceName));
    } catch (const json::exception& e) {
        std::string reason = e.what();
        const std::size_t bracket = reason.find("] ");
        if (reason.rfind("[json.exception", 0) == 0 && bracket != std::string::npos)
            reason = reason.substr(bracket + 2);
        throw Error(fileError(sourceName, "header is not valid JSON: " + reason));
    }
    if (!root.is_object())
        throw Error(fileError(sourceName, "header must be a JSON object"));

    for (const auto& [key, value] : root.items()) {
        if (key == "__metadata__") {
            if (value.is_null())
                continue;
            if (!value.is_object())
                throw Error(fileError(sourceName, "__metadata__ must be an object of strings, found " +
                                                      std::string(value.type_name())));
            for (const auto& [metaKey, metaValue] : value.items()) {
                if (!metaValue.is_string())
                    throw Error(fileError(sourceName, "__metadata__ value for " + quotedName(metaKey) +
                                                          " must be a string, found " +
                                                          std::string(metaValue.type_name())));
                layout.metadata[metaKey] = metaValue.get<std::string>();
            }
            continue;
        }
        layout.tensors.push_back(readTensorEntry(key, value, sourceName));
    }

    // The reference orders tensors by their offsets before checking that they tile the buffer.
    std::stable_sort(layout.tensors.begin(), layout.tensors.end(),
                     [](const TensorEntry& a, const TensorEntry& b) {
                         return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
                     });
    std::uint64_t cursor = 0;
    for (const TensorEntry& entry : layout.tensors) {
        const std::string tensor = "tensor " + quotedName(entry.name);
        if (entry.begin != cursor || entry.end < entry.begin)
            throw Error(fileError(
                sourceName,
                tensor + ": data_offsets [" + std::to_string(entry.begin) + ", " + std::to_string(entry.end) +
                    "] are not contiguous: the data buffer continues at "
                    "byte " +
                    std::to_string(cursor) + " (offsets must cover it from 0 with no gaps or overlaps)"));
        cursor = entry.end;
        const std::optional<std::uint64_t> expected = byteSizeOf(entry);
        if (!expected)
            throw Error(fileError(sourceName, tensor + ": shape " + shapeText(entry.shape) + " of " +
                                                  dtypeName(entry.dtype) +
                                                  " overflows when computing its byte size"));
        if (entry.end - entry.begin != *expected)
            throw Error(fileError(sourceName, tensor + ": data_offsets [" + std::to_string(entry.begin) +
                                                  ", " + std::to_string(entry.end) + "] hold " +
                                                  std::to_string(entry.end - entry.begin) + " bytes but " +
                                                  dtypeName(entry.dtype) + " x shape " +
                                                  shapeText(entry.shape) + " needs " +
                                                  std::to_string(*expected) + " bytes"));
    }

    const std::uint64_t available = bytes.size() - layout.dataStart;
    if (cursor < available)
        throw Error(fileError(sourceName, std::to_string(available - cursor) +
                                              " trailing bytes after the last tensor's data (the data "
                                              "buffer must end where the last tensor ends)"));
    if (cursor > available)
        throw Error(fileError(sourceName, "tensor data needs " + std::to_string(cursor) +
                                              " bytes after the header but the file has only " +
                                              std::to_string(available) + ": the file is truncated"));
    return layout;
}

} // namespace sp::formats
