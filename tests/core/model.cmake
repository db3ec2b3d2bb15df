# The frozen causal LM: invariants on tiny random models, and golden references from transformers.
sp_add_qtest(test_model SOURCES test_model.cpp TORCH LABELS core)
sp_add_qtest(test_model_reference SOURCES test_model_reference.cpp TORCH LABELS core)
sp_add_qtest(test_model_io SOURCES test_model_io.cpp TORCH LABELS core)
sp_add_qtest(test_model_cli SOURCES test_model_cli.cpp TORCH LABELS core)
