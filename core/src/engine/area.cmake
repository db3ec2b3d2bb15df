# The compression engine: σ training, objectives, the cached teacher, evaluation against baselines.
sp_core_library(sp_engine TORCH SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/engine_types.cpp
    ${CMAKE_CURRENT_LIST_DIR}/objectives.cpp
    ${CMAKE_CURRENT_LIST_DIR}/optimizer.cpp
    ${CMAKE_CURRENT_LIST_DIR}/statistics.cpp
    ${CMAKE_CURRENT_LIST_DIR}/engine_model.cpp
    ${CMAKE_CURRENT_LIST_DIR}/forward.cpp
    ${CMAKE_CURRENT_LIST_DIR}/teacher.cpp
    ${CMAKE_CURRENT_LIST_DIR}/task.cpp
    ${CMAKE_CURRENT_LIST_DIR}/trainer.cpp
    ${CMAKE_CURRENT_LIST_DIR}/evaluator.cpp
    ${CMAKE_CURRENT_LIST_DIR}/bench.cpp
    DEPS sp_base)
# The other areas may land after this one; link whichever exist.
foreach(dependency sp_formats sp_tokenizer sp_model)
    if(TARGET ${dependency})
        target_link_libraries(sp_engine PUBLIC ${dependency})
    endif()
endforeach()
list(APPEND SP_CORE_AREA_LIBRARIES sp_engine)
# The CLI stores runs once the run store exists (it is built after this area, hence the genex).
target_compile_definitions(sp_engine INTERFACE $<$<TARGET_EXISTS:sp_store>:SP_HAVE_RUN_STORE=1>)
