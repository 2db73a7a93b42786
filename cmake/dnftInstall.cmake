# SPDX-License-Identifier: Apache-2.0
# Installs the headers and a config-file package: find_package(dnft [COMPONENTS cuda]).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)
set(dnft_cmake_dir "${CMAKE_INSTALL_DATADIR}/cmake/dnft")  # architecture-independent, as Eigen and xtensor do

install(TARGETS dnft EXPORT dnftTargets FILE_SET HEADERS)
install(EXPORT dnftTargets NAMESPACE dnft:: DESTINATION "${dnft_cmake_dir}")
install(FILES "${PROJECT_SOURCE_DIR}/cmake/FindRandom123.cmake" DESTINATION "${dnft_cmake_dir}")

configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/dnftConfig.cmake.in"
                              "${PROJECT_BINARY_DIR}/dnftConfig.cmake" INSTALL_DESTINATION "${dnft_cmake_dir}")
write_basic_package_version_file("${PROJECT_BINARY_DIR}/dnftConfigVersion.cmake" COMPATIBILITY SameMajorVersion
                                 ARCH_INDEPENDENT)
install(FILES "${PROJECT_BINARY_DIR}/dnftConfig.cmake" "${PROJECT_BINARY_DIR}/dnftConfigVersion.cmake"
        DESTINATION "${dnft_cmake_dir}")
