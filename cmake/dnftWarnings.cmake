# SPDX-License-Identifier: Apache-2.0
# dnft_set_warnings(target): the warning set for dnft's own tests, benchmarks and examples.
function(dnft_set_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion>)
  # GCC 12 and 13 report std::string concatenation inlined at -O2/-O3 as overlapping memcpy
  # (-Wrestrict false positive, GCC bug 105329).
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 12
     AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 14)
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Wno-restrict>)
  endif()
  if(DNFT_WERROR)
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Werror>)
  endif()
endfunction()

# Code that trains models (the trainer and MLP tests, the training examples) runs for minutes
# at -O0; in configurations without optimisation (Debug, or none) it gets these flags instead.
# They keep asserts. No debug info by default: at -O2 it costs a third more compile time
# (the trainer tests: 77 s -> 121 s) and the optimised code is hard to step through anyway;
# set DNFT_DEBUG_OPT_FLAGS to "-O0 -g" to debug one of these. The asan preset uses -O1.
set(DNFT_DEBUG_OPT_FLAGS "-O2 -g0" CACHE STRING
    "Flags (space-separated) for dnft's training tests and examples in configurations without optimisation (Debug)")

#[[
dnft_optimize_in_debug(<target>)
  Gives <target>'s C++ sources DNFT_DEBUG_OPT_FLAGS (and its CUDA sources the -O level alone)
  in every configuration but Release, RelWithDebInfo and MinSizeRel (generator expressions, so
  multi-configuration generators get it right).
]]
function(dnft_optimize_in_debug target)
  string(REPLACE ";" " " flags "${DNFT_DEBUG_OPT_FLAGS}")
  separate_arguments(flags UNIX_COMMAND "${flags}")
  set(unoptimized "$<NOT:$<CONFIG:Release,RelWithDebInfo,MinSizeRel>>")
  foreach(flag IN LISTS flags)
    target_compile_options(${target} PRIVATE "$<$<AND:$<COMPILE_LANGUAGE:CXX>,${unoptimized}>:${flag}>")
    if(flag MATCHES "^-O")
      target_compile_options(${target} PRIVATE "$<$<AND:$<COMPILE_LANGUAGE:CUDA>,${unoptimized}>:${flag}>")
    endif()
  endforeach()
endfunction()
