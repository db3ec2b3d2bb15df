# The CUDA path: model numerics in float32/bfloat16 against the CPU and a short σ training run on the
# GPU. Skips (passes) where CUDA is unavailable; scripts/gpu-check.sh runs it on a GPU machine.
sp_add_qtest(test_cuda SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_cuda.cpp TORCH LABELS core cuda)
