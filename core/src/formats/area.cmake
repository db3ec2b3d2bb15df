# Hugging Face file formats: safetensors (memory-mapped reader, writer), config.json, soft prompts.
# Torch-free so the UI and the store can use it.
sp_core_library(sp_formats SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/safetensors_layout.cpp
    ${CMAKE_CURRENT_LIST_DIR}/safetensors.cpp
    ${CMAKE_CURRENT_LIST_DIR}/model_config.cpp
    ${CMAKE_CURRENT_LIST_DIR}/soft_prompt.cpp
    ${CMAKE_CURRENT_LIST_DIR}/chat_model_files.cpp
    DEPS sp_base nlohmann_json::nlohmann_json)
list(APPEND SP_CORE_AREA_LIBRARIES sp_formats)
