# compress_eval (tools/compress): the real tool on the real small model models/cnn-xs.onnx
# with tiny settings, checked by check_compress_eval.py:
#   compress_eval_measure  fp32 and int8 rows: top-1 near the manifest's, int8 within 2
#                          points of fp32, ms > 0 at 1 and 2 threads, bytes and sha256 of
#                          the file, peak RSS > model RSS > 0, per-layer times that add up
#                          to about the forward time
#   compress_eval_errors   a missing model file: exit 2 naming the file; a file OpenCV
#                          cannot load: an "error" row, the good model still measured, exit 1
# Both need the Fashion-MNIST IDX files (dataset-fashion-mnist; scripts/install-deps.sh).
find_package(Python3 COMPONENTS Interpreter)
if(NOT Python3_FOUND)
  message(STATUS "tests/compress: no Python 3 interpreter; compress_eval tests not added")
  return()
endif()

set(_compress_eval_check ${CMAKE_CURRENT_SOURCE_DIR}/check_compress_eval.py)
set(_compress_eval_model ${PROJECT_SOURCE_DIR}/models/cnn-xs.onnx)

# cnn-xs: top1 0.8674 on all 10,000 test images, 0.8680 on the first 1000 (models/manifest.toml);
# on the first 500 the binomial standard error is about 0.015, so 0.03 is two of them.
add_test(NAME compress_eval_measure
         COMMAND ${Python3_EXECUTABLE} ${_compress_eval_check} measure
                 $<TARGET_FILE:compress_eval> ${_compress_eval_model}
                 --expect-top1 0.868 --top1-tolerance 0.03)
add_test(NAME compress_eval_errors
         COMMAND ${Python3_EXECUTABLE} ${_compress_eval_check} errors
                 $<TARGET_FILE:compress_eval> ${_compress_eval_model})
set_tests_properties(compress_eval_measure compress_eval_errors
                     PROPERTIES TIMEOUT 120 LABELS compress)
