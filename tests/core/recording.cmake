# Run recording: the records the CLI and the GUI both store for a run, and reading them back.
sp_add_qtest(test_run_recording SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_run_recording.cpp LABELS core)
