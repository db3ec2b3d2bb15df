#include "softprompt/version.h"

#include "torch_common.h"

#include <ATen/Parallel.h>
#include <torch/cuda.h>

namespace sp {

std::string projectVersion()
{
    return SP_PROJECT_VERSION;
}

BuildInfo buildInfo()
{
    BuildInfo info;
    info.projectVersion = SP_PROJECT_VERSION;
    info.torchVersion = std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) +
                        "." + std::to_string(TORCH_VERSION_PATCH);
    info.cudaAvailable = torch::cuda::is_available();
    info.cudaDeviceCount = info.cudaAvailable ? int(torch::cuda::device_count()) : 0;
    info.cpuThreads = at::get_num_threads();
    return info;
}

} // namespace sp
