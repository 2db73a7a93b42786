# SPDX-License-Identifier: Apache-2.0
# Installs the headers and a config-file package: find_package(dnft [COMPONENTS cuda]).
#   dnftTargets.cmake      dnft::dnft (INTERFACE, C++20, headers under include/)
#   dnftCudaTargets.cmake  dnft::cuda, only when cmake/dnftCuda.cmake created the target dnft_cuda
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)
set(dnft_cmake_dir "${CMAKE_INSTALL_DATADIR}/cmake/dnft")  # architecture-independent, as Eigen and xtensor do

install(TARGETS dnft EXPORT dnftTargets FILE_SET HEADERS)
install(EXPORT dnftTargets NAMESPACE dnft:: DESTINATION "${dnft_cmake_dir}")
install(FILES "${PROJECT_SOURCE_DIR}/cmake/FindRandom123.cmake" DESTINATION "${dnft_cmake_dir}")

# The CUDA part is a separate export set, so a CPU-only install has no dnftCudaTargets.cmake and
# find_package(dnft COMPONENTS cuda) then reports the component as missing.
if(TARGET dnft_cuda)
  get_target_property(dnft_cuda_header_sets dnft_cuda INTERFACE_HEADER_SETS)
  if(dnft_cuda_header_sets)
    install(TARGETS dnft_cuda EXPORT dnftCudaTargets FILE_SET HEADERS)
  else()
    install(TARGETS dnft_cuda EXPORT dnftCudaTargets)
  endif()
  install(EXPORT dnftCudaTargets NAMESPACE dnft:: DESTINATION "${dnft_cmake_dir}")
endif()

configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/dnftConfig.cmake.in"
                              "${PROJECT_BINARY_DIR}/dnftConfig.cmake" INSTALL_DESTINATION "${dnft_cmake_dir}")
write_basic_package_version_file("${PROJECT_BINARY_DIR}/dnftConfigVersion.cmake" COMPATIBILITY SameMajorVersion
                                 ARCH_INDEPENDENT)
install(FILES "${PROJECT_BINARY_DIR}/dnftConfig.cmake" "${PROJECT_BINARY_DIR}/dnftConfigVersion.cmake"
        DESTINATION "${dnft_cmake_dir}")
