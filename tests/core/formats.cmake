# Tests of the Hugging Face formats area (safetensors, config.json, soft prompts).
sp_add_qtest(test_safetensors SOURCES test_safetensors.cpp test_safetensors_util.h LABELS core)
sp_add_qtest(test_safetensors_checkpoint SOURCES test_safetensors_checkpoint.cpp test_safetensors_util.h LABELS core)
sp_add_qtest(test_model_config SOURCES test_model_config.cpp test_safetensors_util.h LABELS core)
