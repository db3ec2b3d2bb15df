# The compression engine. The objectives/optimiser/format tests need only torch; the training tests
# build a tiny random model in the test.
sp_add_qtest(test_engine_objectives SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_engine_objectives.cpp TORCH LABELS core)
sp_add_qtest(test_engine_training SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_engine_training.cpp TORCH LABELS core)
sp_add_qtest(test_engine_eval SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_engine_eval.cpp TORCH LABELS core)
# The CLI commands on a random model folder the test writes.
sp_add_qtest(test_engine_cli SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_engine_cli.cpp TORCH LABELS core cli)
add_dependencies(test_engine_cli softprompt)
