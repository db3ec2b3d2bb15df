#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace sp {

std::vector<std::string> splitString(std::string_view text, char separator);
std::string joinStrings(const std::vector<std::string>& parts, std::string_view separator);
std::string trimWhitespace(std::string_view text);
// Parses "1,2,3" into integers; throws sp::Error with the offending item.
std::vector<long long> parseIntegerList(std::string_view text);
// True when `text` is well-formed UTF-8.
bool isValidUtf8(std::string_view text);

} // namespace sp
