# `cmake --install` puts a working moesim in <prefix>/bin (CTest 'cmake_install').
#   cmake -DBUILD_DIR=... -DPREFIX=... -P install_test.cmake
file(REMOVE_RECURSE "${PREFIX}")
execute_process(COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${PREFIX}" --component moesim
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install failed (${rc}): ${out}${err}")
endif()
if(NOT EXISTS "${PREFIX}/bin/moesim")
  message(FATAL_ERROR "cmake --install did not put moesim in ${PREFIX}/bin: ${out}")
endif()
execute_process(COMMAND "${PREFIX}/bin/moesim" --version RESULT_VARIABLE rc OUTPUT_VARIABLE version)
if(NOT rc EQUAL 0 OR NOT version MATCHES "^moesim [0-9]+\\.[0-9]+")
  message(FATAL_ERROR "the installed moesim does not run: '${version}' (${rc})")
endif()
# It must not need the source tree at run time: the embedded default scenario describes from anywhere.
execute_process(COMMAND "${PREFIX}/bin/moesim" describe WORKING_DIRECTORY "${PREFIX}" RESULT_VARIABLE rc
                OUTPUT_QUIET ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the installed moesim cannot describe its embedded default scenario: ${err}")
endif()
file(REMOVE_RECURSE "${PREFIX}")
