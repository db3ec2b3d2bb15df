# Read by scripts/gpu-check.sh through -DCMAKE_PROJECT_INCLUDE: runs right after project() in the
# root CMakeLists.txt, before its find_package calls. Only the GPU check uses it.

# 1. With SP_BUILD_UI=OFF the root CMakeLists.txt finds no Qt at all, but every test is a Qt Test
#    executable (sp_add_qtest links Qt6::Test): find Qt Core + Test for them.
if((NOT DEFINED SP_BUILD_TESTS OR SP_BUILD_TESTS) AND DEFINED SP_BUILD_UI AND NOT SP_BUILD_UI)
    find_package(Qt6 6.2 REQUIRED COMPONENTS Core Test)
endif()

# 2. LibTorch releases that need a newer C++ standard than the project's 17 (torch >= 2.12 wants
#    C++20): make CMake's "C++17" flag name that standard, for every target alike.
if(SP_GPU_CXX_STANDARD)
    set(CMAKE_CXX17_STANDARD_COMPILE_OPTION "-std=c++${SP_GPU_CXX_STANDARD}")
    set(CMAKE_CXX17_EXTENSION_COMPILE_OPTION "-std=gnu++${SP_GPU_CXX_STANDARD}")
endif()

# 3. CUDA >= 12.9 ships NVTX 3 as headers only (no libnvToolsExt); pip LibTorch's CMake files then
#    link torch::nvtoolsext to a CUDA::nvToolsExt target that FindCUDAToolkit never creates. Nothing
#    here calls NVTX, so an empty stand-in is enough. FindCUDAToolkit leaves existing targets alone.
if(SP_GPU_NVTX_STUB AND NOT TARGET CUDA::nvToolsExt)
    add_library(CUDA::nvToolsExt INTERFACE IMPORTED GLOBAL)
endif()
