# The training session: the one train–evaluate–record flow every front end calls, driven directly on
# a random model folder the test writes.
sp_add_qtest(test_training_session SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_training_session.cpp
             ${CMAKE_CURRENT_LIST_DIR}/test_model_folder.h TORCH LABELS core)
