# The run store: SQLite (WAL) file shared by the GUI and the CLI. Torch-free.
find_package(Threads REQUIRED)
sp_core_library(sp_store SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/sqlite_db.cpp
    ${CMAKE_CURRENT_LIST_DIR}/process_identity.cpp
    ${CMAKE_CURRENT_LIST_DIR}/schema.cpp
    ${CMAKE_CURRENT_LIST_DIR}/run_store.cpp
    ${CMAKE_CURRENT_LIST_DIR}/run_queries.cpp
    ${CMAKE_CURRENT_LIST_DIR}/run_writer.cpp
    ${CMAKE_CURRENT_LIST_DIR}/peft.cpp
    ${CMAKE_CURRENT_LIST_DIR}/run_merge.cpp
    DEPS sp_base sp_formats SQLite::SQLite3 nlohmann_json::nlohmann_json Threads::Threads)
list(APPEND SP_CORE_AREA_LIBRARIES sp_store)
