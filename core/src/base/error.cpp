#include "softprompt/error.h"

namespace sp {

std::string fileError(const std::string& path, const std::string& detail)
{
    return path + ": " + detail;
}

} // namespace sp
