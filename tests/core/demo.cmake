# The demo area: the corpus generator and BPE trainer (torch-free), and the demo model itself.
sp_add_qtest(test_demo_corpus SOURCES test_demo_corpus.cpp LIBS sp_demo LABELS core)
target_include_directories(test_demo_corpus PRIVATE ${PROJECT_SOURCE_DIR}/core/src)
sp_add_qtest(test_demo_model SOURCES test_demo_model.cpp TORCH LIBS sp_demo_training LABELS core)
