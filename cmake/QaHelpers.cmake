# Helpers shared by every CMakeLists: configure report lines, tests and benchmarks.

# qa_report(<name> <found-var> <detail>): one ✓/✗ line per optional component.
function(qa_report name var detail)
  if(${var})
    message(STATUS "✓ ${name} ${detail}")
  else()
    message(STATUS "✗ ${name}")
  endif()
endfunction()

# qa_add_test(NAME n [TARGET exe] [SOURCES ...] [LIBS ...] [LABELS ...] [NP ranks] [ARGS ...]
#             [TIMEOUT s] [ENV ...] [COMMAND ...])
# Builds the test executable TARGET (default NAME) from SOURCES unless it exists, and
# registers a ctest entry running it with ARGS (under mpirun when NP is set). One
# executable can back several entries, e.g. `test_rng cpu` (unit) and `test_rng gpu`.
# COMMAND registers an arbitrary command instead (shell-script tests).
# Exit code 77 means "skipped" (e.g. GPU tests on a machine without a GPU).
function(qa_add_test)
  cmake_parse_arguments(T "" "NAME;TARGET;NP;TIMEOUT" "SOURCES;LIBS;LABELS;ARGS;ENV;COMMAND" ${ARGN})
  if(NOT T_TARGET)
    set(T_TARGET ${T_NAME})
  endif()
  if(T_COMMAND)
    add_test(NAME ${T_NAME} COMMAND ${T_COMMAND})
  else()
    if(NOT TARGET ${T_TARGET})
      add_executable(${T_TARGET} ${T_SOURCES})
      target_link_libraries(${T_TARGET} PRIVATE ${T_LIBS})
      target_include_directories(${T_TARGET} PRIVATE ${PROJECT_SOURCE_DIR}/tests)
      qa_sanitize_support(${T_TARGET})
    endif()
    if(T_NP)
      add_test(NAME ${T_NAME}
               COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${T_NP} ${MPIEXEC_PREFLAGS}
                       $<TARGET_FILE:${T_TARGET}> ${T_ARGS})
    else()
      add_test(NAME ${T_NAME} COMMAND ${T_TARGET} ${T_ARGS})
    endif()
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  set(env "QA_TEST_DATA=${PROJECT_SOURCE_DIR}/tests/data"
          "QA_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
          "QA_BINARY_DIR=${PROJECT_BINARY_DIR}"
          "OMPI_MCA_rmaps_base_oversubscribe=1"
          "OMPI_ALLOW_RUN_AS_ROOT=1" "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"
          "OPENBLAS_NUM_THREADS=1"
          "LSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/tests/lsan.supp:print_suppressions=0"
          "ASAN_OPTIONS=fast_unwind_on_malloc=0:detect_leaks=1"
          "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1"
          ${T_ENV})
  set_tests_properties(${T_NAME} PROPERTIES LABELS "${T_LABELS}" SKIP_RETURN_CODE 77
                       TIMEOUT ${T_TIMEOUT} ENVIRONMENT "${env}")
  if(T_NP)
    # Ranks on an oversubscribed 2-core machine: charge the slots so ctest -j does not
    # start several 4-rank jobs at once.
    set_tests_properties(${T_NAME} PROPERTIES PROCESSORS ${T_NP})
  endif()
endfunction()

# qa_add_benchmark(NAME n SOURCES ... [LIBS ...])
function(qa_add_benchmark)
  cmake_parse_arguments(B "" "NAME" "SOURCES;LIBS" ${ARGN})
  add_executable(${B_NAME} ${B_SOURCES})
  target_link_libraries(${B_NAME} PRIVATE ${B_LIBS})
  target_include_directories(${B_NAME} PRIVATE ${PROJECT_SOURCE_DIR}/benchmarks ${PROJECT_SOURCE_DIR}/tests)
  set_target_properties(${B_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/benchmarks)
endfunction()

# qa_sanitize_support(<target>): in QA_SANITIZE builds, keeps dlopen'ed plugins mapped so
# LeakSanitizer can attribute third-party allocations (see tests/sanitize_keep_modules.c).
function(qa_sanitize_support target)
  if(QA_SANITIZE)
    target_sources(${target} PRIVATE ${PROJECT_SOURCE_DIR}/tests/sanitize_keep_modules.c)
    target_link_options(${target} PRIVATE -Wl,--export-dynamic-symbol=dlclose)
  endif()
endfunction()
