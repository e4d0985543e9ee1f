# bench/compress/run.sh end to end on tiny settings (pipeline_test.sh): a few minutes of
# PyTorch on 2 cores; the full run (bench/results/compress.md) is outside CI.
add_test(NAME compress_pipeline
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/pipeline_test.sh ${PROJECT_BINARY_DIR})
set_tests_properties(compress_pipeline PROPERTIES TIMEOUT 900 LABELS compress)
