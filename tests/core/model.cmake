# The frozen causal LM: invariants on tiny random models, and golden references from transformers.
sp_add_qtest(test_model SOURCES test_model.cpp TORCH LABELS core)
