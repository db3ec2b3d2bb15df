# Run store tests. test_store_files and test_store_crash reach into core/src/store for what the
# public API deliberately hides (building an old-schema file); test_store_crash drives a real child
# process (store_test_writer) that writes through the API and is killed with SIGKILL.
sp_add_qtest(test_store SOURCES test_store.cpp LABELS core)
target_include_directories(test_store PRIVATE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(test_store PRIVATE SQLite::SQLite3)

sp_add_qtest(test_store_files SOURCES test_store_files.cpp LABELS core)
target_include_directories(test_store_files PRIVATE ${CMAKE_CURRENT_LIST_DIR} ${PROJECT_SOURCE_DIR}/core/src)
target_link_libraries(test_store_files PRIVATE SQLite::SQLite3)

# The child process of test_store_crash: writes one run through the API, as a trainer does.
add_executable(store_test_writer ${CMAKE_CURRENT_LIST_DIR}/store_writer/store_writer_main.cpp)
target_include_directories(store_test_writer PRIVATE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(store_test_writer PRIVATE sp_store SQLite::SQLite3)
sp_set_warnings(store_test_writer)

sp_add_qtest(test_store_crash SOURCES test_store_crash.cpp LABELS core TIMEOUT 120)
target_include_directories(test_store_crash PRIVATE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(test_store_crash PRIVATE SQLite::SQLite3)
target_compile_definitions(test_store_crash PRIVATE SP_STORE_WRITER_PATH="$<TARGET_FILE:store_test_writer>")
add_dependencies(test_store_crash store_test_writer)

sp_add_qtest(test_store_peft SOURCES test_store_peft.cpp LABELS core)
target_include_directories(test_store_peft PRIVATE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(test_store_peft PRIVATE SQLite::SQLite3)

# The runs commands of the real CLI (and, once `softprompt train --db` exists, its crash safety).
sp_add_qtest(test_store_cli SOURCES test_store_cli.cpp LABELS core cli TIMEOUT 300)
target_include_directories(test_store_cli PRIVATE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(test_store_cli PRIVATE SQLite::SQLite3)
add_dependencies(test_store_cli softprompt)

# Global run ids and merging run databases (the shards of a Slurm sweep).
sp_add_qtest(test_store_merge SOURCES test_store_merge.cpp LABELS core)
target_include_directories(test_store_merge PRIVATE ${CMAKE_CURRENT_LIST_DIR} ${PROJECT_SOURCE_DIR}/core/src)
target_link_libraries(test_store_merge PRIVATE SQLite::SQLite3)
