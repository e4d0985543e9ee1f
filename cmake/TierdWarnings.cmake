# tierd_set_warnings(target): the project's warning set; zero warnings is the rule.
function(tierd_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wshadow -Wnon-virtual-dtor
                         $<$<COMPILE_LANGUAGE:CXX>:-Wold-style-cast>)
  if(TIERD_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
