#pragma once
#include <string>

namespace sp {

struct BuildInfo {
    std::string projectVersion; // e.g. "0.1.0"
    std::string torchVersion;   // LibTorch this build was compiled against, e.g. "1.13.0"
    bool cudaAvailable = false; // detected at run time
    int cudaDeviceCount = 0;
    int cpuThreads = 0;         // intra-op threads LibTorch will use
};

BuildInfo buildInfo();
std::string projectVersion();

} // namespace sp
