# SPDX-License-Identifier: Apache-2.0
# The optional dnft::cuda target: enabled when a CUDA compiler is found (DNFT_ENABLE_CUDA=AUTO).
#
# Defines, when CUDA is enabled:
#   dnft_cuda / dnft::cuda        INTERFACE target (EXPORT_NAME cuda): dnft::dnft + CUDA::cudart +
#                                 CUDA::cublas and the include/dnft/cuda/*.cuh headers as a FILE_SET
#   DNFT_HAS_CUDA                 ON
#   dnft_cuda_target(<target>)    for dnft's own .cu targets (tests, benchmarks, examples): C++20
#                                 for nvcc and the warning set (-Werror when DNFT_WERROR is ON)
#
# CMake 3.25.1 (Debian 12) does not know nvcc's C++20 flag, so `cuda_std_20` is only put on the
# exported target from CMake 3.26 on; before that, dnft's own targets get -std=c++20 per target
# (which, unlike CMAKE_CUDA20_STANDARD_COMPILE_OPTION, does not depend on the directory scope the
# target is created in, e.g. bench/cuda configured on its own).
set(DNFT_ENABLE_CUDA AUTO CACHE STRING "Provide dnft::cuda: AUTO (when nvcc is found), ON or OFF")
set_property(CACHE DNFT_ENABLE_CUDA PROPERTY STRINGS AUTO ON OFF)
set(DNFT_HAS_CUDA OFF)
if(NOT DNFT_ENABLE_CUDA STREQUAL "OFF")
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    set(DNFT_HAS_CUDA ON)
  elseif(DNFT_ENABLE_CUDA STREQUAL "ON")
    message(FATAL_ERROR "dnft: DNFT_ENABLE_CUDA=ON but no CUDA compiler was found")
  else()
    message(STATUS "dnft: no CUDA compiler found; building the host part only")
  endif()
endif()

if(NOT DNFT_HAS_CUDA)
  return()
endif()

# Architectures: the user's choice wins (-DCMAKE_CUDA_ARCHITECTURES=..., or the CUDAARCHS environment
# variable); otherwise Ampere and Hopper. CUDA 13 has no architecture below 75, and `native` needs a GPU.
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES AND NOT DEFINED ENV{CUDAARCHS})
  set(CMAKE_CUDA_ARCHITECTURES "80;90" CACHE STRING "CUDA architectures dnft's own CUDA targets are built for")
endif()
enable_language(CUDA)
find_package(CUDAToolkit REQUIRED)

file(GLOB_RECURSE dnft_cuh CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/include/dnft/cuda/*.cuh")
add_library(dnft_cuda INTERFACE)
add_library(dnft::cuda ALIAS dnft_cuda)
set_target_properties(dnft_cuda PROPERTIES EXPORT_NAME cuda)
target_sources(dnft_cuda INTERFACE FILE_SET HEADERS BASE_DIRS include FILES ${dnft_cuh})
target_link_libraries(dnft_cuda INTERFACE dnft::dnft CUDA::cudart CUDA::cublas)
if(CMAKE_VERSION VERSION_GREATER_EQUAL 3.26)
  # Consumers' .cu files then compile as C++20; on older CMake the .cuh headers' static_assert
  # tells them to pass -std=c++20 themselves. No architectures and no nvcc flags are exported.
  target_compile_features(dnft_cuda INTERFACE cuda_std_20)
endif()

#[[
dnft_cuda_target(<target> [NO_WARNINGS])
  Makes <target> (whose .cu sources are dnft's own code) compile its CUDA sources as C++20 and
  with the warning set: nvcc's device-side warnings (-Werror all-warnings) and the host compiler's
  -Wall -Wextra, as errors when DNFT_WERROR is ON. Third-party headers come in through imported
  targets, whose include directories CMake passes as -isystem, so their warnings do not count.
]]
function(dnft_cuda_target target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "NO_WARNINGS" "" "")
  if(CMAKE_VERSION VERSION_LESS 3.26)
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-std=c++20>)
  else()
    set_target_properties(${target} PROPERTIES CUDA_STANDARD 20 CUDA_STANDARD_REQUIRED ON CUDA_EXTENSIONS OFF)
  endif()
  if(NOT arg_NO_WARNINGS)
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra>)
    # GCC 12 and 13 report std::string concatenation inlined at -O2/-O3 as overlapping memcpy
    # (-Wrestrict false positive, GCC bug 105329); nvcc's host compiler is the C++ compiler here.
    if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 12
       AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 14)
      target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wno-restrict>)
    endif()
    if(DNFT_WERROR)
      target_compile_options(${target} PRIVATE
        "$<$<COMPILE_LANGUAGE:CUDA>:SHELL:-Werror all-warnings>"
        $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Werror>)
    endif()
  endif()
  if(COMMAND dnft_set_warnings)
    dnft_set_warnings(${target})  # the C++ sources of the same target
  endif()
endfunction()
