# The plugin SDK as an installable package (install component `dev`, the tierd-dev
# Debian package): the public headers, a relocatable CMake package (tierd::sdk and
# tierd_add_plugin), a pkg-config file and a plugin template. The daemon, the in-tree
# plugins, the config and the systemd unit have their own install rules elsewhere.
#
#   cmake --install <build> --component dev [--prefix <dir>]
#
# docs/plugins.md, "Writing a plugin out of tree (tierd-dev)", describes what lands where.
include(CMakePackageConfigHelpers)

# The rules live in a function so that their variables stay out of the root scope.
function(_tierd_sdk_install_rules)
  set(TIERD_SDK_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/tierd)
  set(TIERD_SDK_PKGCONFIG_DIR ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
  set(TIERD_SDK_TEMPLATE_DIR ${CMAKE_INSTALL_DATADIR}/tierd/sdk/template)
  # The daemon's plugin directory (TIERD_INSTALL_PLUGIN_DIR), relative to the prefix so
  # that the package config can relocate it along with itself.
  set(TIERD_SDK_PLUGIN_DIR ${CMAKE_INSTALL_LIBDIR}/tierd/plugins)
  set(_tierd_sdk_gen ${PROJECT_BINARY_DIR}/sdk)

  # The ABI version the headers describe, read from plugin.h (its only home).
  file(STRINGS ${PROJECT_SOURCE_DIR}/agent/include/tierd/plugin.h _tierd_abi_lines
       REGEX "^#define TIERD_ABI_(MAJOR|MINOR) [0-9]+$")
  foreach(_line ${_tierd_abi_lines})
    if(_line MATCHES "^#define TIERD_ABI_(MAJOR|MINOR) ([0-9]+)$")
      set(TIERD_SDK_ABI_${CMAKE_MATCH_1} ${CMAKE_MATCH_2})
    endif()
  endforeach()
  if(NOT DEFINED TIERD_SDK_ABI_MAJOR OR NOT DEFINED TIERD_SDK_ABI_MINOR)
    message(FATAL_ERROR "cannot read TIERD_ABI_MAJOR/MINOR from agent/include/tierd/plugin.h")
  endif()
  set(TIERD_SDK_ABI_VERSION ${TIERD_SDK_ABI_MAJOR}.${TIERD_SDK_ABI_MINOR})

  # ---- Headers -------------------------------------------------------------------------
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/agent/include/tierd/
          DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/tierd
          COMPONENT dev
          FILES_MATCHING PATTERN "*.h" PATTERN "*.hpp")

  # ---- CMake package: find_package(tierd 0.1) -> tierd::sdk, tierd_add_plugin() --------
  set_target_properties(tierd_sdk PROPERTIES EXPORT_NAME sdk)
  install(TARGETS tierd_sdk EXPORT tierdTargets COMPONENT dev)
  install(EXPORT tierdTargets
          NAMESPACE tierd::
          DESTINATION ${TIERD_SDK_CMAKE_DIR}
          COMPONENT dev)

  configure_package_config_file(
    ${PROJECT_SOURCE_DIR}/cmake/sdk/tierdConfig.cmake.in
    ${_tierd_sdk_gen}/tierdConfig.cmake
    INSTALL_DESTINATION ${TIERD_SDK_CMAKE_DIR}
    PATH_VARS TIERD_SDK_PLUGIN_DIR CMAKE_INSTALL_INCLUDEDIR)

  # While the major version is 0, a minor release may change the SDK's source interface
  # (plugin.hpp, tierd_add_plugin), so find_package(tierd 0.1) accepts 0.1.x only. From
  # 1.0 on, same major = compatible, as for the ABI. (Binary compatibility of a built
  # plugin is a separate matter: the ABI version negotiated at load time decides it.)
  if(PROJECT_VERSION_MAJOR EQUAL 0)
    set(_tierd_sdk_compat SameMinorVersion)
  else()
    set(_tierd_sdk_compat SameMajorVersion)
  endif()
  write_basic_package_version_file(
    ${_tierd_sdk_gen}/tierdConfigVersion.cmake
    VERSION ${PROJECT_VERSION}
    COMPATIBILITY ${_tierd_sdk_compat})

  install(FILES
            ${_tierd_sdk_gen}/tierdConfig.cmake
            ${_tierd_sdk_gen}/tierdConfigVersion.cmake
            ${PROJECT_SOURCE_DIR}/cmake/sdk/TierdPluginHelpers.cmake
            ${PROJECT_SOURCE_DIR}/cmake/tierd_plugin.map
          DESTINATION ${TIERD_SDK_CMAKE_DIR}
          COMPONENT dev)

  # ---- pkg-config: tierd.pc ------------------------------------------------------------
  # pkg-config does not relocate, so `prefix=` is written at install time, from the prefix
  # actually installed to (`cmake --install --prefix` included). Everything else is filled
  # in now; @TIERD_PC_PREFIX@ survives this first pass because it expands to itself.
  foreach(_dir INCLUDEDIR LIBDIR)
    if(IS_ABSOLUTE "${CMAKE_INSTALL_${_dir}}")
      set(TIERD_PC_${_dir} "${CMAKE_INSTALL_${_dir}}")
    else()
      set(TIERD_PC_${_dir} "\${prefix}/${CMAKE_INSTALL_${_dir}}")
    endif()
  endforeach()
  set(TIERD_PC_PREFIX "@TIERD_PC_PREFIX@")
  configure_file(${PROJECT_SOURCE_DIR}/cmake/sdk/tierd.pc.in ${_tierd_sdk_gen}/tierd.pc.in @ONLY)
  install(CODE "
    set(TIERD_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
    configure_file(\"${_tierd_sdk_gen}/tierd.pc.in\" \"${_tierd_sdk_gen}/tierd.pc\" @ONLY)
  " COMPONENT dev)
  install(FILES ${_tierd_sdk_gen}/tierd.pc DESTINATION ${TIERD_SDK_PKGCONFIG_DIR} COMPONENT dev)

  # ---- Plugin template -----------------------------------------------------------------
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/sdk/template/
          DESTINATION ${TIERD_SDK_TEMPLATE_DIR}
          COMPONENT dev)
endfunction()

_tierd_sdk_install_rules()
