# bench/compress/run.sh end to end on tiny settings (pipeline_test.sh): a few minutes of
# PyTorch on 2 cores; the full run (bench/results/compress.md) is outside CI.
add_test(NAME compress_pipeline
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/pipeline_test.sh ${PROJECT_BINARY_DIR})
set_tests_properties(compress_pipeline PROPERTIES TIMEOUT 900 LABELS compress)
# Its detector step alone (CLASSIFY=0), on a few dozen frames (detect_pipeline_test.sh).
add_test(NAME compress_detect_pipeline
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/detect_pipeline_test.sh ${PROJECT_BINARY_DIR})
set_tests_properties(compress_detect_pipeline PROPERTIES TIMEOUT 600 LABELS compress)
