#include "cli_common.h"

#include <iostream>

namespace spcli {

void printJson(const nlohmann::json& value)
{
    std::cout << value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
}

void printError(const std::string& message)
{
    std::cerr << "softprompt: " << message << std::endl;
}

} // namespace spcli
