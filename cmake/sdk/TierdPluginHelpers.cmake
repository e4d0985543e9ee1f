# tierd_add_plugin(): build a tierd plugin .so. Included by tierdConfig.cmake; needs the
# tierd::sdk target it defines.
#
#   tierd_add_plugin(<name>
#                    SOURCES <file>...
#                    [INSTALL]                      install to ${TIERD_PLUGIN_DIR}
#                    [INSTALL_DESTINATION <dir>]    install there instead (implies INSTALL)
#                    [INSTALL_COMPONENT <component>]
#                    [OUTPUT_DIRECTORY <dir>])      where the .so is built
#
# <name> is the plugin's name: [a-z0-9-]+, equal to the `name` in its descriptor (tierd
# refuses a file whose descriptor names another plugin). The result is a MODULE library
# target <name> that builds <name>.so (no "lib" prefix) and:
#   - links tierd::sdk (the headers; a plugin never links against tierd);
#   - compiles C and C++ with hidden visibility, so only TIERD_PLUGIN_EXPORT symbols could
#     leave the .so, and links with the SDK's version script so that only
#     tierd_plugin_entry does (the C++ runtime's weak template symbols included);
#   - requires C++17 or later for C++ sources (tierd/plugin.hpp) and C11 for C sources;
#   - links with -z defs: an unresolved symbol fails the link, not tierd's dlopen.
# Add your own libraries, warnings and definitions to the target as usual.
if(CMAKE_VERSION VERSION_LESS 3.13)
  message(FATAL_ERROR "tierd_add_plugin needs CMake 3.13 or later (target_link_options)")
endif()
include_guard(GLOBAL)

# Captured now: inside the function CMAKE_CURRENT_LIST_DIR is the caller's directory, and
# the caller's scope may not see the variables find_package(tierd) set in another one.
set_property(GLOBAL PROPERTY TIERD_SDK_VERSION_SCRIPT "${CMAKE_CURRENT_LIST_DIR}/tierd_plugin.map")
set_property(GLOBAL PROPERTY TIERD_SDK_PLUGIN_DIR "${TIERD_PLUGIN_DIR}")

function(tierd_add_plugin name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "INSTALL"
                        "INSTALL_DESTINATION;INSTALL_COMPONENT;OUTPUT_DIRECTORY" "SOURCES")
  if(arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "tierd_add_plugin(${name}): unknown arguments: ${arg_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT name MATCHES "^[a-z0-9-]+$")
    message(FATAL_ERROR "tierd_add_plugin(${name}): a plugin name is [a-z0-9-]+ "
                        "(it is the file name <name>.so and the descriptor's name)")
  endif()
  if(NOT arg_SOURCES)
    message(FATAL_ERROR "tierd_add_plugin(${name}): SOURCES is required")
  endif()
  if(NOT TARGET tierd::sdk)
    message(FATAL_ERROR "tierd_add_plugin(${name}): no tierd::sdk target; "
                        "call find_package(tierd) first")
  endif()
  get_property(version_script GLOBAL PROPERTY TIERD_SDK_VERSION_SCRIPT)

  add_library(${name} MODULE ${arg_SOURCES})
  target_link_libraries(${name} PRIVATE tierd::sdk)
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    OUTPUT_NAME ${name}
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(arg_OUTPUT_DIRECTORY)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${arg_OUTPUT_DIRECTORY})
  endif()

  # A compile feature of a language the project did not enable is an error.
  # (list(FIND), not IN_LIST: this runs under the caller's policy settings.)
  get_property(languages GLOBAL PROPERTY ENABLED_LANGUAGES)
  list(FIND languages CXX cxx_index)
  if(cxx_index GREATER -1)
    target_compile_features(${name} PRIVATE cxx_std_17)
  endif()
  list(FIND languages C c_index)
  if(c_index GREATER -1)
    target_compile_features(${name} PRIVATE c_std_11)
  endif()

  target_link_options(${name} PRIVATE "LINKER:--version-script=${version_script}"
                      "LINKER:-z,defs")
  set_property(TARGET ${name} APPEND PROPERTY LINK_DEPENDS ${version_script})

  if(arg_INSTALL OR arg_INSTALL_DESTINATION)
    if(arg_INSTALL_DESTINATION)
      set(destination ${arg_INSTALL_DESTINATION})
    elseif(TIERD_PLUGIN_DIR)
      set(destination ${TIERD_PLUGIN_DIR})
    else()
      get_property(destination GLOBAL PROPERTY TIERD_SDK_PLUGIN_DIR)
    endif()
    if(arg_INSTALL_COMPONENT)
      set(component COMPONENT ${arg_INSTALL_COMPONENT})
    else()
      set(component "")
    endif()
    install(TARGETS ${name} LIBRARY DESTINATION ${destination} ${component})
  endif()
endfunction()
