# The frozen causal LM (GPT-2 and the Llama family) and the public ModelHandle.
sp_core_library(sp_model TORCH SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/bench_timing.cpp
    ${CMAKE_CURRENT_LIST_DIR}/causal_lm.cpp
    ${CMAKE_CURRENT_LIST_DIR}/cpu_threads.cpp
    ${CMAKE_CURRENT_LIST_DIR}/generation.cpp
    ${CMAKE_CURRENT_LIST_DIR}/layers.cpp
    ${CMAKE_CURRENT_LIST_DIR}/loaded_model.cpp
    ${CMAKE_CURRENT_LIST_DIR}/model_bench.cpp
    ${CMAKE_CURRENT_LIST_DIR}/model_handle.cpp
    ${CMAKE_CURRENT_LIST_DIR}/model_identity.cpp
    ${CMAKE_CURRENT_LIST_DIR}/model_io.cpp
    ${CMAKE_CURRENT_LIST_DIR}/model_weights.cpp
    DEPS sp_base sp_formats sp_tokenizer)
list(APPEND SP_CORE_AREA_LIBRARIES sp_model)
