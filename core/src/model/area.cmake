# The frozen causal LM and the public ModelHandle. Each model family has its own file (family_*.cpp).
sp_core_library(sp_model TORCH SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/bench_timing.cpp
    ${CMAKE_CURRENT_LIST_DIR}/causal_lm.cpp
    ${CMAKE_CURRENT_LIST_DIR}/cpu_threads.cpp
    ${CMAKE_CURRENT_LIST_DIR}/decoder_blocks.cpp
    ${CMAKE_CURRENT_LIST_DIR}/family.cpp
    ${CMAKE_CURRENT_LIST_DIR}/family_gemma2.cpp
    ${CMAKE_CURRENT_LIST_DIR}/family_gemma3.cpp
    ${CMAKE_CURRENT_LIST_DIR}/family_gpt2.cpp
    ${CMAKE_CURRENT_LIST_DIR}/family_llama.cpp
    ${CMAKE_CURRENT_LIST_DIR}/family_phi3.cpp
    ${CMAKE_CURRENT_LIST_DIR}/family_qwen3.cpp
    ${CMAKE_CURRENT_LIST_DIR}/generation.cpp
    ${CMAKE_CURRENT_LIST_DIR}/layers.cpp
    ${CMAKE_CURRENT_LIST_DIR}/loaded_model.cpp
    ${CMAKE_CURRENT_LIST_DIR}/memory_estimate.cpp
    ${CMAKE_CURRENT_LIST_DIR}/model_bench.cpp
    ${CMAKE_CURRENT_LIST_DIR}/model_handle.cpp
    ${CMAKE_CURRENT_LIST_DIR}/model_identity.cpp
    ${CMAKE_CURRENT_LIST_DIR}/model_io.cpp
    ${CMAKE_CURRENT_LIST_DIR}/model_weights.cpp
    ${CMAKE_CURRENT_LIST_DIR}/rope.cpp
    DEPS sp_base sp_formats sp_tokenizer)
list(APPEND SP_CORE_AREA_LIBRARIES sp_model)
