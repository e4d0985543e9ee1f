# tierd_set_warnings(target): the project's warning set; zero warnings is the rule.
function(tierd_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wshadow
                         $<$<COMPILE_LANGUAGE:CXX>:-Wnon-virtual-dtor -Wold-style-cast>)
  # GCC 12 at -O3 reports false -Wrestrict on std::string concatenation (GCC bug
  # 105651); it is a known compiler defect, not our code.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Wno-restrict>)
  endif()
  if(TIERD_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
