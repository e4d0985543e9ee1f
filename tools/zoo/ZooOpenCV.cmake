# Sets TIERD_ZOO_OPENCV_LIBS to OpenCV's core, imgproc and dnn libraries.
#
# Order: the OpenCV::<module> targets tierd's cmake/TierdDependencies.cmake defines;
# else OpenCV's own CMake package (find_package(OpenCV COMPONENTS core dnn imgproc),
# shipped by Debian's full libopencv-dev); else the headers and libraries of Debian's
# small libopencv-{core,imgproc,dnn}-dev packages, which ship no OpenCVConfig.cmake.
if(TARGET OpenCV::dnn AND TARGET OpenCV::core AND TARGET OpenCV::imgproc)
  set(TIERD_ZOO_OPENCV_LIBS OpenCV::core OpenCV::imgproc OpenCV::dnn)
  return()
endif()
find_package(OpenCV QUIET COMPONENTS core dnn imgproc)
if(OpenCV_FOUND)
  set(TIERD_ZOO_OPENCV_LIBS ${OpenCV_LIBS})
  return()
endif()
find_path(TIERD_ZOO_OPENCV_INCLUDE_DIR opencv2/dnn.hpp PATH_SUFFIXES opencv4)
if(NOT TIERD_ZOO_OPENCV_INCLUDE_DIR)
  message(FATAL_ERROR "OpenCV DNN headers not found: apt-get install libopencv-dnn-dev")
endif()
set(TIERD_ZOO_OPENCV_LIBS)
foreach(module core imgproc dnn)
  find_library(TIERD_ZOO_OPENCV_${module} opencv_${module})
  if(NOT TIERD_ZOO_OPENCV_${module})
    message(FATAL_ERROR "libopencv_${module} not found: apt-get install libopencv-${module}-dev")
  endif()
  if(NOT TARGET tierd_zoo_opencv_${module})
    add_library(tierd_zoo_opencv_${module} UNKNOWN IMPORTED)
    set_target_properties(tierd_zoo_opencv_${module} PROPERTIES
      IMPORTED_LOCATION ${TIERD_ZOO_OPENCV_${module}}
      INTERFACE_INCLUDE_DIRECTORIES ${TIERD_ZOO_OPENCV_INCLUDE_DIR})
  endif()
  list(APPEND TIERD_ZOO_OPENCV_LIBS tierd_zoo_opencv_${module})
endforeach()
