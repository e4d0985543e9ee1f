# nas_search (tools/compress): synthetic samples (tests/compress/nas_fixture.py: 60 random
# architectures, latency from known non-negative linear costs +-3% on two devices, accuracy
# from a known smooth function), then NSGA-II at --pop 16 --gens 30. check_nas_search.py:
# latency coefficients >= 0, holdout MAPE < 10%, accuracy holdout Spearman > 0.5, the front
# canonical, unique and non-dominated, picks on the front (fastest and most accurate among
# them), both devices present, identical output on a second run, flagged holdouts honoured,
# and bad input (width 0.6, kernel 7, too few samples, malformed JSON) exits 2 naming the key.
find_package(Python3 COMPONENTS Interpreter QUIET)
if(NOT Python3_FOUND)
  message(STATUS "tests/compress: no Python 3 interpreter; nas_search tests not added")
  return()
endif()
add_test(NAME compress.nas_search
         COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/check_nas_search.py
                 $<TARGET_FILE:nas_search> ${CMAKE_CURRENT_BINARY_DIR}/nas_search_work)
set_tests_properties(compress.nas_search PROPERTIES TIMEOUT 120 LABELS compress)
