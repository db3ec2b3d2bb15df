# The demo area.
#   sp_demo (torch-free): the synthetic instruction-following corpus, the byte-level BPE trainer
#     and the example contexts.
#   sp_demo_training (torch): pretraining and evaluating the demo model.
sp_core_library(sp_demo SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/demo_corpus.cpp
    ${CMAKE_CURRENT_LIST_DIR}/demo_vocabulary.cpp
    ${CMAKE_CURRENT_LIST_DIR}/byte_level_bpe.cpp
    ${CMAKE_CURRENT_LIST_DIR}/demo_tokenizer.cpp
    ${CMAKE_CURRENT_LIST_DIR}/demo_examples.cpp
    DEPS sp_base sp_tokenizer PkgConfig::PCRE2 nlohmann_json::nlohmann_json)
list(APPEND SP_CORE_AREA_LIBRARIES sp_demo)

sp_core_library(sp_demo_training TORCH SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/demo_batches.cpp
    ${CMAKE_CURRENT_LIST_DIR}/demo_pretrain.cpp
    ${CMAKE_CURRENT_LIST_DIR}/demo_step_data.cpp
    ${CMAKE_CURRENT_LIST_DIR}/demo_step_loss.cpp
    ${CMAKE_CURRENT_LIST_DIR}/demo_eval.cpp
    DEPS sp_demo sp_model sp_tokenizer sp_optim)
list(APPEND SP_CORE_AREA_LIBRARIES sp_demo_training)
