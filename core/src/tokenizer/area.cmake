# Hugging Face tokenizer.json, implemented exactly (torch-free: the UI uses it directly).
sp_core_library(sp_tokenizer SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/added_vocabulary.cpp
    ${CMAKE_CURRENT_LIST_DIR}/bpe_model.cpp
    ${CMAKE_CURRENT_LIST_DIR}/decoders.cpp
    ${CMAKE_CURRENT_LIST_DIR}/json_access.cpp
    ${CMAKE_CURRENT_LIST_DIR}/normalizers.cpp
    ${CMAKE_CURRENT_LIST_DIR}/pieces.cpp
    ${CMAKE_CURRENT_LIST_DIR}/post_processors.cpp
    ${CMAKE_CURRENT_LIST_DIR}/pre_tokenizers.cpp
    ${CMAKE_CURRENT_LIST_DIR}/regex.cpp
    ${CMAKE_CURRENT_LIST_DIR}/tokenizer.cpp
    ${CMAKE_CURRENT_LIST_DIR}/unicode_text.cpp
    DEPS sp_base nlohmann_json::nlohmann_json PkgConfig::PCRE2 PkgConfig::UTF8PROC)
list(APPEND SP_CORE_AREA_LIBRARIES sp_tokenizer)
