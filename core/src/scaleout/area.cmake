# Scale-out: sweep grids and sweeps on a Slurm cluster (scripts, sbatch/scontrol/sacct/scancel).
# Qt-free and torch-free; the shards are merged by the store (RunStore::merge).
sp_core_library(sp_scaleout SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/sweep_grid.cpp
    ${CMAKE_CURRENT_LIST_DIR}/slurm_sweep.cpp
    ${CMAKE_CURRENT_LIST_DIR}/slurm_status.cpp
    DEPS sp_base sp_store SQLite::SQLite3 nlohmann_json::nlohmann_json)
list(APPEND SP_CORE_AREA_LIBRARIES sp_scaleout)
