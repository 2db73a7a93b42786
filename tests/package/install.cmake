# SPDX-License-Identifier: Apache-2.0
# cmake -DBUILD_DIR=... -DPREFIX=... [-DCONFIG=...] -P install.cmake: a fresh install of BUILD_DIR into PREFIX.
file(REMOVE_RECURSE "${PREFIX}")
set(config_args "")
if(CONFIG)
  set(config_args --config "${CONFIG}")
endif()
execute_process(COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${PREFIX}" ${config_args}
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install ${BUILD_DIR} failed (${rc})")
endif()
foreach(f IN ITEMS include/dnft/dnft.hpp share/cmake/dnft/dnftConfig.cmake share/cmake/dnft/dnftConfigVersion.cmake
                   share/cmake/dnft/dnftTargets.cmake share/cmake/dnft/FindRandom123.cmake)
  if(NOT EXISTS "${PREFIX}/${f}")
    message(FATAL_ERROR "the installation lacks ${f}")
  endif()
endforeach()
