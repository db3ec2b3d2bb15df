# A minimal TorchConfig.cmake for scripts/gpu-check.sh, used only when the real one (from the
# Python wheel) fails to configure, e.g. on CUDA toolkit discovery. Our code compiles no CUDA
# itself: it needs LibTorch's headers, its libraries (libtorch_cuda linked even though no symbol of
# it is referenced, so that its CUDA hooks register), and the C++ ABI flag.
#   SP_TORCH_SHIM_INCLUDE_DIRS   torch/include;torch/include/torch/csrc/api/include
#   SP_TORCH_SHIM_LIBRARY_DIR    torch/lib
#   SP_TORCH_SHIM_CXX11_ABI      0 or 1 (torch._C._GLIBCXX_USE_CXX11_ABI)
if(TARGET torch)
    return()
endif()
foreach(variable SP_TORCH_SHIM_INCLUDE_DIRS SP_TORCH_SHIM_LIBRARY_DIR SP_TORCH_SHIM_CXX11_ABI)
    if("${${variable}}" STREQUAL "")
        set(Torch_FOUND FALSE)
        set(Torch_NOT_FOUND_MESSAGE "the torch shim needs ${variable}")
        return()
    endif()
endforeach()

set(_sp_torch_libraries "")
foreach(name torch_cpu c10 c10_cuda)
    find_library(SP_TORCH_SHIM_${name} NAMES ${name} PATHS "${SP_TORCH_SHIM_LIBRARY_DIR}" NO_DEFAULT_PATH)
    if(SP_TORCH_SHIM_${name})
        list(APPEND _sp_torch_libraries "${SP_TORCH_SHIM_${name}}")
    elseif(NOT name STREQUAL "c10_cuda")
        set(Torch_FOUND FALSE)
        set(Torch_NOT_FOUND_MESSAGE "lib${name}.so not found in ${SP_TORCH_SHIM_LIBRARY_DIR}")
        return()
    endif()
endforeach()
find_library(SP_TORCH_SHIM_torch NAMES torch PATHS "${SP_TORCH_SHIM_LIBRARY_DIR}" NO_DEFAULT_PATH)
find_library(SP_TORCH_SHIM_torch_cuda NAMES torch_cuda PATHS "${SP_TORCH_SHIM_LIBRARY_DIR}" NO_DEFAULT_PATH)
if(SP_TORCH_SHIM_torch_cuda)
    list(APPEND _sp_torch_libraries "-Wl,--no-as-needed,${SP_TORCH_SHIM_torch_cuda},--as-needed")
endif()

add_library(torch SHARED IMPORTED)
set_target_properties(torch PROPERTIES
    IMPORTED_LOCATION "${SP_TORCH_SHIM_torch}"
    INTERFACE_INCLUDE_DIRECTORIES "${SP_TORCH_SHIM_INCLUDE_DIRS}"
    INTERFACE_COMPILE_OPTIONS "-D_GLIBCXX_USE_CXX11_ABI=${SP_TORCH_SHIM_CXX11_ABI}"
    INTERFACE_LINK_LIBRARIES "${_sp_torch_libraries}")
set(TORCH_LIBRARIES torch)
set(TORCH_INCLUDE_DIRS "${SP_TORCH_SHIM_INCLUDE_DIRS}")
set(TORCH_CXX_FLAGS "-D_GLIBCXX_USE_CXX11_ABI=${SP_TORCH_SHIM_CXX11_ABI}")
set(Torch_FOUND TRUE)
message(STATUS "Torch (gpu-check shim): ${SP_TORCH_SHIM_torch}, ABI ${SP_TORCH_SHIM_CXX11_ABI}")
