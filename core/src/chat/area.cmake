# Chat templates: a Jinja engine with transformers' settings (Qt-free, torch-free).
sp_core_library(sp_chat SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/builtins.cpp
    ${CMAKE_CURRENT_LIST_DIR}/chat_template.cpp
    ${CMAKE_CURRENT_LIST_DIR}/evaluator.cpp
    ${CMAKE_CURRENT_LIST_DIR}/lexer.cpp
    ${CMAKE_CURRENT_LIST_DIR}/parser.cpp
    ${CMAKE_CURRENT_LIST_DIR}/tojson.cpp
    ${CMAKE_CURRENT_LIST_DIR}/value.cpp
    DEPS sp_base nlohmann_json::nlohmann_json PkgConfig::UTF8PROC)
list(APPEND SP_CORE_AREA_LIBRARIES sp_chat)
