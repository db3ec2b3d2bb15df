# Run recording: the engine's step reports, evaluations and results as run-store records (and back),
# shared by the CLI and the GUI. Torch-free.
sp_core_library(sp_recording SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/run_recording.cpp
    DEPS sp_engine sp_store nlohmann_json::nlohmann_json)
list(APPEND SP_CORE_AREA_LIBRARIES sp_recording)
