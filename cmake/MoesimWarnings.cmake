# Warnings and sanitizers applied to our own targets only (never global flags).
function(moesim_target_options target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Werror)
  target_compile_features(${target} PUBLIC cxx_std_20)
  if(MOESIM_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
    target_link_options(${target} PUBLIC -fsanitize=address,undefined)
  endif()
endfunction()

# add_moesim_module(NAME name SOURCES ... DEPS ...): one static library per module.
function(add_moesim_module)
  cmake_parse_arguments(M "" "NAME" "SOURCES;DEPS" ${ARGN})
  add_library(moesim_${M_NAME} STATIC ${M_SOURCES})
  add_library(moesim::${M_NAME} ALIAS moesim_${M_NAME})
  target_include_directories(moesim_${M_NAME} PUBLIC ${PROJECT_SOURCE_DIR}/include)
  target_link_libraries(moesim_${M_NAME} PUBLIC ${M_DEPS})
  moesim_target_options(moesim_${M_NAME})
endfunction()

# add_moesim_test(NAME name SOURCES ... DEPS ...): a GoogleTest binary discovered by CTest.
function(add_moesim_test)
  cmake_parse_arguments(T "" "NAME" "SOURCES;DEPS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_DEPS} GTest::gtest_main GTest::gmock)
  target_compile_definitions(${T_NAME} PRIVATE
    MOESIM_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    MOESIM_SHARED_DIR="${PROJECT_SOURCE_DIR}/../shared")
  moesim_target_options(${T_NAME})
  gtest_discover_tests(${T_NAME} DISCOVERY_TIMEOUT 60 PROPERTIES LABELS unit)
endfunction()
