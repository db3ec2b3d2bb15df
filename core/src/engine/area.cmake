# The compression engine: σ training, objectives, the cached teacher, evaluation against baselines.
sp_core_library(sp_engine TORCH SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/engine_types.cpp
    ${CMAKE_CURRENT_LIST_DIR}/objectives.cpp
    ${CMAKE_CURRENT_LIST_DIR}/statistics.cpp
    ${CMAKE_CURRENT_LIST_DIR}/engine_model.cpp
    ${CMAKE_CURRENT_LIST_DIR}/prompt_layout.cpp
    ${CMAKE_CURRENT_LIST_DIR}/forward.cpp
    ${CMAKE_CURRENT_LIST_DIR}/teacher_cache.cpp
    ${CMAKE_CURRENT_LIST_DIR}/teacher.cpp
    ${CMAKE_CURRENT_LIST_DIR}/query_set.cpp
    ${CMAKE_CURRENT_LIST_DIR}/task.cpp
    ${CMAKE_CURRENT_LIST_DIR}/trainer.cpp
    ${CMAKE_CURRENT_LIST_DIR}/batch_sampler.cpp
    ${CMAKE_CURRENT_LIST_DIR}/train_step.cpp
    ${CMAKE_CURRENT_LIST_DIR}/divergence.cpp
    ${CMAKE_CURRENT_LIST_DIR}/early_stopping.cpp
    ${CMAKE_CURRENT_LIST_DIR}/step_report.cpp
    ${CMAKE_CURRENT_LIST_DIR}/evaluator.cpp
    ${CMAKE_CURRENT_LIST_DIR}/bench.cpp
    ${CMAKE_CURRENT_LIST_DIR}/playground.cpp
    ${CMAKE_CURRENT_LIST_DIR}/coverage.cpp
    DEPS sp_base sp_formats sp_tokenizer sp_model sp_chat sp_optim)
list(APPEND SP_CORE_AREA_LIBRARIES sp_engine)
