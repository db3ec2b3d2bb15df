# The optimiser both trainers share: Adam/AdamW, global-norm gradient clipping and the warm-up +
# cosine learning-rate schedule. The engine trains σ with it, the demo pretrainer the demo model.
sp_core_library(sp_optim TORCH SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/adam.cpp
    ${CMAKE_CURRENT_LIST_DIR}/learning_rate.cpp
    DEPS sp_base)
list(APPEND SP_CORE_AREA_LIBRARIES sp_optim)
