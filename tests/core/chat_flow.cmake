# Issue 16's flow: model chat files, the prompt layout cut from transformers' route, σ through a chat
# template, the run store's prompt format. The Qwen2.5 and Mistral tokenizers come from the npm cache
# of tests/tokenizer/fetch-references.sh (those cases skip without node/npm).
sp_add_qtest(test_chat_flow SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_chat_flow.cpp TORCH LABELS core)
target_include_directories(test_chat_flow PRIVATE ${PROJECT_SOURCE_DIR}/tests/support)
target_compile_definitions(test_chat_flow PRIVATE SP_TOKENIZER_CACHE_DIR="${SP_TOKENIZER_REFERENCE_CACHE}")
set_property(TEST test_chat_flow APPEND PROPERTY ENVIRONMENT "SP_TOKENIZER_CACHE=${SP_TOKENIZER_REFERENCE_CACHE}")
set_tests_properties(test_chat_flow PROPERTIES FIXTURES_REQUIRED tokenizer_references)

# `softprompt chat render|layout` as the real executable, against Jinja2 (tests/chat/render_folder.py
# with SP_CHAT_PYTHON from chat.cmake) on the demo model and on Qwen2.5's files from the npm cache.
sp_add_qtest(test_chat_cli SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_chat_cli.cpp LABELS core cli)
target_include_directories(test_chat_cli PRIVATE ${PROJECT_SOURCE_DIR}/tests/support)
target_compile_definitions(test_chat_cli PRIVATE SP_TOKENIZER_CACHE_DIR="${SP_TOKENIZER_REFERENCE_CACHE}"
                                                 SP_CHAT_PYTHON="${SP_CHAT_PYTHON}")
add_dependencies(test_chat_cli softprompt)
set_property(TEST test_chat_cli APPEND PROPERTY ENVIRONMENT "SP_TOKENIZER_CACHE=${SP_TOKENIZER_REFERENCE_CACHE}")
set_tests_properties(test_chat_cli PROPERTIES FIXTURES_REQUIRED tokenizer_references)
