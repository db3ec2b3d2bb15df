# The frozen causal LM: invariants on tiny random models, golden references from transformers, and
# the same numbers from ONNX Runtime on exports made by others.
sp_add_qtest(test_model SOURCES test_model.cpp TORCH LABELS core)
sp_add_qtest(test_model_reference SOURCES test_model_reference.cpp TORCH LABELS core)
sp_add_qtest(test_model_io SOURCES test_model_io.cpp TORCH LABELS core)
sp_add_qtest(test_model_cli SOURCES test_model_cli.cpp TORCH LABELS core)
sp_add_qtest(test_model_memory SOURCES test_model_memory.cpp TORCH LABELS core)
sp_add_qtest(test_model_families SOURCES test_model_families.cpp TORCH LABELS core)

# ONNX Runtime reference: onnxruntime-node (npm, CPU) is installed into a cache OUTSIDE the source
# tree by tests/onnx/fetch-onnxruntime.sh; tests/onnx/make-references.sh widens each export under
# tests/data/onnx to float32 (Debian's python3-onnx) and runs it, writing into the build folder.
# Without node, npm or python3-onnx these steps exit 77 and test_model_onnx skips, saying why.
if(SP_ONNX_REFERENCE_CACHE)
    set(sp_onnx_cache "${SP_ONNX_REFERENCE_CACHE}")
elseif(NOT "$ENV{SP_ONNX_CACHE}" STREQUAL "")
    set(sp_onnx_cache "$ENV{SP_ONNX_CACHE}")
elseif(NOT "$ENV{XDG_CACHE_HOME}" STREQUAL "")
    set(sp_onnx_cache "$ENV{XDG_CACHE_HOME}/softprompt-workbench/npm")
else()
    set(sp_onnx_cache "$ENV{HOME}/.cache/softprompt-workbench/npm")
endif()
set(SP_ONNX_REFERENCE_CACHE "${sp_onnx_cache}" CACHE PATH
    "Where tests/onnx/fetch-onnxruntime.sh installs onnxruntime-node (outside the source tree)")
set(sp_onnx_outputs "${CMAKE_CURRENT_BINARY_DIR}/onnx-reference")

add_test(NAME onnx_fetch_runtime
         COMMAND bash "${PROJECT_SOURCE_DIR}/tests/onnx/fetch-onnxruntime.sh" "${SP_ONNX_REFERENCE_CACHE}")
set_tests_properties(onnx_fetch_runtime PROPERTIES
    FIXTURES_SETUP onnx_runtime SKIP_RETURN_CODE 77 TIMEOUT 900 LABELS core RESOURCE_LOCK onnx_reference_cache)
add_test(NAME onnx_make_references
         COMMAND bash "${PROJECT_SOURCE_DIR}/tests/onnx/make-references.sh" "${SP_ONNX_REFERENCE_CACHE}"
                 "${sp_onnx_outputs}")
set_tests_properties(onnx_make_references PROPERTIES
    FIXTURES_SETUP onnx_references FIXTURES_REQUIRED onnx_runtime SKIP_RETURN_CODE 77 TIMEOUT 300 LABELS core
    RESOURCE_LOCK onnx_reference_cache)

sp_add_qtest(test_model_onnx SOURCES test_model_onnx.cpp TORCH LABELS core)
target_compile_definitions(test_model_onnx PRIVATE SP_ONNX_REFERENCE_DIR="${sp_onnx_outputs}")
set_tests_properties(test_model_onnx PROPERTIES FIXTURES_REQUIRED onnx_references)
