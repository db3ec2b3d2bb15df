# The compression engine. The objectives/optimiser/format tests need only torch; the training tests
# build a tiny random model in the test.
sp_add_qtest(test_engine_objectives SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_engine_objectives.cpp TORCH LABELS core)
sp_add_qtest(test_engine_training SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_engine_training.cpp TORCH LABELS core)
sp_add_qtest(test_engine_eval SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_engine_eval.cpp TORCH LABELS core)
# The CLI commands on a random model folder the test writes.
sp_add_qtest(test_engine_cli SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_engine_cli.cpp
             ${CMAKE_CURRENT_LIST_DIR}/test_model_folder.h TORCH LABELS core cli)
add_dependencies(test_engine_cli softprompt)
# The playground (generation under full context, σ, no context) and the coverage map; the demo-model
# coverage check reads resources/examples and resources/demo-model.
sp_add_qtest(test_playground SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_playground.cpp TORCH LABELS core)
sp_add_qtest(test_coverage SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_coverage.cpp TORCH LABELS core TIMEOUT 600)
# The demo-model check leaves each of ~60 sentences out on 12 queries: ~25 s of CPU, several minutes of
# wall time on a loaded 2-core machine; Qt Test's per-function watchdog (5 min) would stop it first.
set_property(TEST test_coverage APPEND PROPERTY ENVIRONMENT "QTEST_FUNCTION_TIMEOUT=900000")
# softprompt generate --run/--sigma and eval --coverage on the demo model.
sp_add_qtest(test_generate_cli SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_generate_cli.cpp LABELS core cli TIMEOUT 900)
add_dependencies(test_generate_cli softprompt)
