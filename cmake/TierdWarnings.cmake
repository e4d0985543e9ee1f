# tierd_set_warnings(target): the project's warning set; zero warnings is the rule.
function(tierd_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wshadow
                         $<$<COMPILE_LANGUAGE:CXX>:-Wnon-virtual-dtor -Wold-style-cast>)
  if(TIERD_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
