# Sanitizer builds (docs/fuzzing.md). TIERD_SANITIZE compiles the whole project, tests
# and plugins included, with ASan + UBSan, so the test suite runs under them;
# TIERD_FUZZ also builds the libFuzzer harnesses in fuzz/ and implies TIERD_SANITIZE.
# Both need clang (libFuzzer and -fsanitize=fuzzer-no-link are clang's).
option(TIERD_FUZZ "Build the libFuzzer harnesses (fuzz/); needs clang, implies TIERD_SANITIZE"
       OFF)
option(TIERD_SANITIZE "Build everything with -fsanitize=address,undefined" OFF)
if(TIERD_FUZZ)
  set(TIERD_SANITIZE ON CACHE BOOL "Build everything with -fsanitize=address,undefined" FORCE)
endif()

if(TIERD_FUZZ AND NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "TIERD_FUZZ needs clang (libFuzzer): configure with CC=clang CXX=clang++")
endif()

if(TIERD_SANITIZE)
  # Any UB report stops the process (-fno-sanitize-recover), so a test or a fuzzer run
  # fails instead of printing a warning nobody reads.
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  # Line tables are all a sanitizer's stack trace needs; full -g (RelWithDebInfo)
  # roughly doubles the compile time of this template-heavy code on CI's two cores.
  # -O1 is what ASan's authors advise: close to -O2's speed, much quicker to build.
  add_compile_options(-O1 -gline-tables-only)
  add_link_options(-fsanitize=address,undefined)
  if(TIERD_FUZZ)
    # Coverage feedback from the libraries the harnesses link, not only from the
    # harness files: without it libFuzzer would be blind inside the parsers.
    add_compile_options(-fsanitize=fuzzer-no-link)
  endif()
endif()
