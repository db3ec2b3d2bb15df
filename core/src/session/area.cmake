# The training session: the one train–evaluate–record flow that every front end calls (README.md).
# Torch-free.
sp_core_library(sp_session SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/evaluation_merge.cpp
    ${CMAKE_CURRENT_LIST_DIR}/run_recorder.cpp
    ${CMAKE_CURRENT_LIST_DIR}/training_session.cpp
    DEPS sp_engine sp_store sp_recording nlohmann_json::nlohmann_json)
list(APPEND SP_CORE_AREA_LIBRARIES sp_session)
