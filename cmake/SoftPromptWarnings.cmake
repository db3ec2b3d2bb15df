# Warnings apply to project code only; third-party headers come in as SYSTEM includes
# (imported targets are SYSTEM by default), so -Wall -Wextra stays meaningful.
function(sp_set_warnings target)
    if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
        target_compile_options(${target} PRIVATE -Wall -Wextra)
    endif()
endfunction()
