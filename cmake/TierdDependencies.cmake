# Every third-party library comes from Debian's -dev packages (see README.md).
find_package(PkgConfig REQUIRED)
pkg_check_modules(LIBUV REQUIRED IMPORTED_TARGET libuv)
pkg_check_modules(MOSQUITTO REQUIRED IMPORTED_TARGET libmosquitto)
pkg_check_modules(SYSTEMD REQUIRED IMPORTED_TARGET libsystemd)
find_package(tomlplusplus REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(spdlog REQUIRED)
find_package(fmt REQUIRED)
find_package(Threads REQUIRED)
find_package(ZLIB REQUIRED)
find_package(OpenSSL REQUIRED) # libcrypto: sha256 of model files
find_package(SQLite3 REQUIRED) # the durable spool (agent/spool)

# Debian's small OpenCV module packages (libopencv-{core,imgproc,dnn,ml}-dev) ship
# neither OpenCVConfig.cmake nor opencv4.pc (those come with the 1.4 GB
# libopencv-dev), so locate the headers and the few modules we link by hand.
find_path(OPENCV_INCLUDE_DIR opencv2/core.hpp PATH_SUFFIXES opencv4 REQUIRED)
foreach(module core imgproc imgcodecs videoio dnn ml)
  find_library(OPENCV_${module}_LIBRARY opencv_${module} REQUIRED)
  if(NOT TARGET OpenCV::${module})
    add_library(OpenCV::${module} UNKNOWN IMPORTED)
    set_target_properties(OpenCV::${module} PROPERTIES
      IMPORTED_LOCATION ${OPENCV_${module}_LIBRARY}
      INTERFACE_INCLUDE_DIRECTORIES ${OPENCV_INCLUDE_DIR})
  endif()
endforeach()

# OpenCV's `video` module (optical flow; libopencv-video-dev) is optional: the video fusion
# plugins (fusion-track, fusion-feature) are left out with a message without it.
find_path(TIERD_OPENCV_VIDEO_INCLUDE opencv2/video/tracking.hpp PATH_SUFFIXES opencv4)
find_library(TIERD_OPENCV_VIDEO_LIBRARY opencv_video)
if(TIERD_OPENCV_VIDEO_INCLUDE AND TIERD_OPENCV_VIDEO_LIBRARY AND NOT TARGET OpenCV::video)
  add_library(OpenCV::video UNKNOWN IMPORTED)
  set_target_properties(OpenCV::video PROPERTIES
    IMPORTED_LOCATION ${TIERD_OPENCV_VIDEO_LIBRARY}
    INTERFACE_INCLUDE_DIRECTORIES ${TIERD_OPENCV_VIDEO_INCLUDE})
endif()

if(TIERD_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(TIERD_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()
