# Install rules for what the daemon needs beside its binaries (the binaries and plugins
# install from their own folders, the plugin SDK from TierdSdk.cmake). Components name
# the Debian package each part goes to: "daemon" (tierd), "models" (tierd-models).

# systemd's unit directory: Debian 12 uses /lib/systemd/system (its packaging passes
# that); relative paths are under the install prefix, for staged installs.
set(TIERD_SYSTEMD_UNIT_DIR "${CMAKE_INSTALL_LIBDIR}/systemd/system"
    CACHE STRING "Where tierd.service is installed")

# /etc/tierd/tierd.toml: the installed device's config (only the keys that differ from
# the built-in default), and the full default as a reference example.
install(FILES ${PROJECT_SOURCE_DIR}/packaging/config/tierd.toml
        DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/tierd COMPONENT daemon)
install(FILES ${PROJECT_SOURCE_DIR}/config/tierd.toml ${PROJECT_SOURCE_DIR}/packaging/systemd/gpu.conf
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples COMPONENT daemon)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT daemon)
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT daemon)

# Hardware profiles (TIERD_INSTALL_PROFILE_DIR is where the HAL looks for them).
install(DIRECTORY ${PROJECT_SOURCE_DIR}/config/profiles/ DESTINATION ${TIERD_INSTALL_PROFILE_DIR}
        COMPONENT daemon FILES_MATCHING PATTERN "*.toml")

install(FILES ${PROJECT_SOURCE_DIR}/packaging/systemd/tierd.service
        DESTINATION ${TIERD_SYSTEMD_UNIT_DIR} COMPONENT daemon)
# Man pages carry the project version.
foreach(_page tierd.8 tierctl.1)
  configure_file(${PROJECT_SOURCE_DIR}/packaging/man/${_page}.in ${PROJECT_BINARY_DIR}/man/${_page} @ONLY)
  string(REGEX REPLACE ".*\\.([0-9])$" "\\1" _section ${_page})
  install(FILES ${PROJECT_BINARY_DIR}/man/${_page} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${_section}
          COMPONENT daemon)
endforeach()

# The model zoo, split sub-models and pre-classifiers (the tierd-models package).
install(DIRECTORY ${PROJECT_SOURCE_DIR}/models/ DESTINATION ${CMAKE_INSTALL_DATADIR}/tierd/models
        COMPONENT models)
