#pragma once
#include <stdexcept>
#include <string>

namespace sp {

// Every error a user can cause (bad file, unsupported model, over-long context, locked database)
// is an sp::Error whose message says what went wrong and what to do about it. Programs show the
// message as it is: one line, no stack trace.
class Error : public std::runtime_error {
public:
    explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Raised when the user asked for cancellation; not a failure.
class Cancelled : public Error {
public:
    Cancelled() : Error("cancelled by the user") {}
};

// Builds "<what>: <detail>" messages consistently, e.g. fileError(path, "header is not JSON").
std::string fileError(const std::string& path, const std::string& detail);

} // namespace sp
